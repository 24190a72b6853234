"""The NTU-compatible synthetic datasets (``ntu60-synth``, ``ntu120-synth``)."""
