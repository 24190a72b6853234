"""Per-fold pretraining of a skeleton encoder on its training classes, with a checkpoint cache."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zsbench import runtime
from zsbench.atomic import write_atomic
from zsbench.config import EncoderConfig
from zsbench.distributed import barrier, broadcast_buffers, rank_and_world
from zsbench.errors import UsageError
from zsbench.eval.protocol import TrainingSet
from zsbench.identity import code_identity, compute_identity, weights_hash
from zsbench.seeding import seed_everything, torch_generator

log = logging.getLogger(__name__)
EXTRACT_BATCH = 256
Progress = Callable[[str, int, int], None]


@dataclass
class TrainedEncoder:
    model: nn.Module
    classes: tuple[int, ...]
    checkpoint: Path
    checkpoint_hash: str
    history: list[dict[str, float]]
    reused: bool
    selection: dict[str, float] | None = None  # the epoch chosen on held-out training subjects, if any


def build_encoder(config: EncoderConfig, num_classes: int) -> nn.Module:
    from zsbench.catalog import SKELETON_ENCODERS

    factory = SKELETON_ENCODERS.get(config.name or "tcn")
    model: nn.Module = factory(num_classes=num_classes, dim=config.dim, hidden=config.hidden)
    return model


def load_batch(skeletons: np.ndarray, indices: np.ndarray) -> torch.Tensor:
    order = np.argsort(indices)  # memory maps read fastest in file order
    block = np.asarray(skeletons[indices[order]], dtype=np.float32)
    restored = np.empty_like(block)
    restored[order] = block
    return torch.from_numpy(restored)


def cache_key(
    store_hash: str, training: TrainingSet, config: EncoderConfig, seed: int, selection: TrainingSet | None = None
) -> str:
    held_out = selection.fingerprint() if selection is not None else None
    compute = compute_identity(str(runtime.device()))
    payload = json.dumps(
        [store_hash, training.fingerprint(), asdict(config), seed, held_out, code_identity(), compute], sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _save(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda handle: torch.save(content, handle))


def train_encoder(
    skeletons: np.ndarray,
    training: TrainingSet,
    config: EncoderConfig,
    seed: int,
    checkpoint_dir: Path,
    store_hash: str,
    progress: Progress | None = None,
    selection: TrainingSet | None = None,
) -> TrainedEncoder:
    """Train (or load the cached) encoder for one fold's training set; never any test data.

    Without ``selection`` the last epoch is kept (a fixed budget); with it, the epoch whose weights classify
    the ``selection`` samples (held-out training subjects, training classes) best.

    After every epoch the full training state (weights, optimiser, schedule, random generators) is saved
    as ``KEY.last.pt``; an interrupted run resumes from it and ends with the same weights as an
    uninterrupted one. The finished encoder is ``KEY.pt``. Under torch.distributed each process trains on
    its share of every global batch (see :mod:`zsbench.distributed`).
    """
    rank, world = rank_and_world()
    key = cache_key(store_hash, training, config, seed, selection)
    checkpoint = checkpoint_dir / f"{key}.pt"
    resume_file = checkpoint_dir / f"{key}.last.pt"
    model = build_encoder(config, len(training.classes))
    if checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["state_dict"])
        model.eval()
        return TrainedEncoder(
            model,
            training.classes,
            checkpoint,
            weights_hash(model.state_dict()),
            saved["history"],
            True,
            saved.get("selection"),
        )

    seed_everything(seed)
    device = runtime.device()
    model = build_encoder(config, len(training.classes)).to(device)
    position = {label: row for row, label in enumerate(training.classes)}
    targets = torch.tensor([position[int(label)] for label in training.labels], dtype=torch.long, device=device)
    cuda = device.type == "cuda"
    trainable: nn.Module = model
    if world > 1:
        trainable = nn.parallel.DistributedDataParallel(model)
    if config.compile and cuda:
        trainable = torch.compile(trainable)  # type: ignore[assignment]
    if (config.amp or config.compile) and not cuda:
        log.warning("encoder.amp and encoder.compile apply on CUDA only; training on %s without them", device)
    best: dict[str, Any] = {"accuracy": -1.0, "epoch": 0, "state_dict": None}
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    # The batch order depends on the seed and the training samples only, not on unrelated config fields.
    generator = torch_generator(seed, "encoder-batches", training.fingerprint())
    history: list[dict[str, float]] = []
    if resume_file.is_file():
        state = torch.load(resume_file, map_location=device, weights_only=False)
        model.load_state_dict(state["state_dict"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"].cpu())
        history = state["history"]
        best = state["best"]
    for epoch in range(len(history), config.epochs):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(targets), generator=generator)
        total_loss, correct = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size].numpy()[rank::world]
            inputs = load_batch(skeletons, training.indices[rows]).to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=config.amp and cuda):
                logits = trainable(inputs)
                loss = nn.functional.cross_entropy(logits.float(), targets[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total_loss += loss.item() * len(rows)
            correct += int((logits.argmax(1) == targets[rows]).sum())
        schedule.step()
        seconds = time.perf_counter() - started
        history.append(
            {
                "epoch": epoch + 1,
                "loss": total_loss / len(targets) * world,
                "train_accuracy": correct / len(targets) * world,
                "samples_per_second": len(targets) / max(seconds, 1e-9),
            }
        )
        if selection is not None:
            accuracy = selection_accuracy(model, skeletons, selection, training.classes)
            history[-1]["selection_accuracy"] = accuracy
            if accuracy > best["accuracy"]:
                state_copy = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                best = {"accuracy": accuracy, "epoch": epoch + 1, "state_dict": state_copy}
        if rank == 0:
            state = {
                "state_dict": model.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "history": history,
                "best": best,
            }  # fmt: skip
            _save(resume_file, state)
        if progress is not None:
            last = history[-1]
            progress(
                f"{training.stage}: encoder epoch (loss {last['loss']:.3f}, acc {last['train_accuracy']:.2f}, "
                f"{last['samples_per_second']:.0f} samples/s)",
                epoch + 1,
                config.epochs,
            )
    model = model.cpu().eval()  # checkpoints and the returned model live on the CPU; extract() moves them
    chosen = None
    if best["state_dict"] is not None:
        model.load_state_dict(best["state_dict"])
        chosen = {"selected_epoch": best["epoch"], "selection_accuracy": best["accuracy"]}
    broadcast_buffers(model)
    if rank == 0:
        _save(checkpoint, {"state_dict": model.state_dict(), "history": history, "classes": training.classes,
                           "selection": chosen})  # fmt: skip
        resume_file.unlink(missing_ok=True)
    barrier()
    return TrainedEncoder(model, training.classes, checkpoint, weights_hash(model.state_dict()), history, False, chosen)


@torch.no_grad()
def selection_accuracy(
    model: nn.Module, skeletons: np.ndarray, selection: TrainingSet, classes: tuple[int, ...]
) -> float:
    """Accuracy of the encoder's classifier on the held-out selection samples (training classes only)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    position = {label: row for row, label in enumerate(classes)}
    expected = torch.tensor([position[int(label)] for label in selection.labels])
    predicted = torch.cat(
        [
            model(load_batch(skeletons, selection.indices[start : start + EXTRACT_BATCH]).to(device)).argmax(1).cpu()
            for start in range(0, len(selection.indices), EXTRACT_BATCH)
        ]
    )
    model.train(was_training)
    return float((predicted == expected).float().mean())


def token_map(model: nn.Module, inputs: torch.Tensor, segments: int) -> torch.Tensor:
    """(N, C, segments, V): the encoder's per-joint map, averaged over present bodies and over equal time segments."""
    if hasattr(model, "token_map"):  # the encoder pools its own map without building it at full size
        direct: torch.Tensor = model.token_map(inputs, segments)  # type: ignore[operator]
        return direct
    if not hasattr(model, "feature_map"):
        raise UsageError(f"encoder {type(model).__name__} has no per-joint map; use one that does (stgcn)")
    maps = model.feature_map(inputs)  # type: ignore[operator]  # (N, M, C, T', V)
    present = (inputs.abs().sum(dim=(1, 2, 3)) > 0).to(maps.dtype)
    weights = present / present.sum(-1, keepdim=True).clamp(min=1.0)
    merged = (maps * weights[:, :, None, None, None]).sum(1)  # (N, C, T', V)
    return nn.functional.adaptive_avg_pool2d(merged, (segments, merged.shape[-1]))


@torch.no_grad()
def extract(
    model: nn.Module, skeletons: np.ndarray, indices: np.ndarray, map_segments: int | None = None
) -> dict[str, torch.Tensor]:
    """Pooled features, the seen-class classifier logits and, if asked, the (N, C, S, V) token map."""
    device = runtime.device()
    model = model.to(device).eval()
    parts: dict[str, list[torch.Tensor]] = {"pooled": [], "seen_logits": [], "map": []}
    for start in range(0, len(indices), EXTRACT_BATCH):
        inputs = load_batch(skeletons, indices[start : start + EXTRACT_BATCH]).to(device)
        features = model.features(inputs)  # type: ignore[operator]
        parts["pooled"].append(features.cpu())
        parts["seen_logits"].append(model.classifier(features).cpu())  # type: ignore[operator]
        if map_segments is not None:
            parts["map"].append(token_map(model, inputs, map_segments).cpu())
    model.cpu()
    return {name: torch.cat(chunks) for name, chunks in parts.items() if chunks}


@torch.no_grad()
def extract_map(model: nn.Module, skeletons: np.ndarray, indices: np.ndarray, segments: int) -> torch.Tensor:
    """The (N, C, segments, V) token map alone."""
    device = runtime.device()
    model = model.to(device).eval()
    out: torch.Tensor | None = None  # filled in place: concatenating gigabyte-sized chunks doubles the peak
    for start in range(0, len(indices), EXTRACT_BATCH):
        chunk = token_map(model, load_batch(skeletons, indices[start : start + EXTRACT_BATCH]).to(device), segments)
        if out is None:
            out = torch.empty((len(indices), *chunk.shape[1:]), dtype=chunk.dtype)
        out[start : start + len(chunk)] = chunk.cpu()
    model.cpu()
    if out is None:
        raise UsageError("no samples to extract a token map from")
    return out


def extract_cached(
    encoder: TrainedEncoder,
    skeletons: np.ndarray,
    indices: np.ndarray,
    store_hash: str,
    map_segments: int | None = None,
) -> dict[str, torch.Tensor]:
    """:func:`extract`, cached beside the checkpoint by (checkpoint, store, samples, map segments).

    An encoder that pools its own map (``token_map``, e.g. jointmix) has its map recomputed on every call
    instead: that takes seconds, while a cached 16-segment map of the embedded set is 3 GB per fold.
    """
    direct_map = map_segments is not None and hasattr(encoder.model, "token_map")
    cached_segments = None if direct_map else map_segments
    digest = hashlib.sha256(np.ascontiguousarray(indices, dtype=np.int64).tobytes())
    digest.update(f"{encoder.checkpoint_hash}:{store_hash}:{cached_segments}".encode())
    path = encoder.checkpoint.parent / "features" / f"{digest.hexdigest()[:20]}.pt"
    if path.is_file():
        features: dict[str, torch.Tensor] = torch.load(path, map_location="cpu")
    else:
        features = extract(encoder.model, skeletons, indices, cached_segments)
        _save(path, features)
    if direct_map and map_segments is not None:  # (direct_map implies it; mypy needs it said)
        features = {**features, "map": extract_map(encoder.model, skeletons, indices, map_segments)}
    return features


def summary(encoder: TrainedEncoder) -> dict[str, Any]:
    last = encoder.history[-1] if encoder.history else {}
    return {
        "checkpoint_hash": encoder.checkpoint_hash,
        "classes": len(encoder.classes),
        "reused": encoder.reused,
        "final_train_accuracy": last.get("train_accuracy"),
        "final_loss": last.get("loss"),
        "selection": encoder.selection,
    }
