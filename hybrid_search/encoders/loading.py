"""Loading FlagEmbedding models for encoders and rerankers: lazily (importing FlagEmbedding costs
seconds), once per instance, and failing fast with ModelNotFoundError when a model is absent."""

from __future__ import annotations

import copy
import importlib
import logging
import os
import queue
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack

from hybrid_search.errors import EncoderError, ModelNotFoundError
from hybrid_search.process import bound_kernel_cache

logger = logging.getLogger(__name__)


def quiet_transformers() -> None:
    """Silence load reports and progress bars that would garble a CLI's JSON output."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - transformers is a core dependency
        pass


def resolve_model_path(name_or_path: str) -> str:
    """A local directory as is; a hub name only if it is already in the local HF cache or
    downloadable. Fails fast with ModelNotFoundError instead of a long network stack trace."""
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    if name_or_path.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model directory not found: {name_or_path}")
    try:
        from huggingface_hub import snapshot_download

        try:
            return str(snapshot_download(name_or_path, local_files_only=True))
        except Exception:  # not cached: try the hub unless offline
            if os.environ.get("HF_HUB_OFFLINE") == "1":
                raise
            return str(snapshot_download(name_or_path))
    except Exception as exc:
        raise ModelNotFoundError(
            f"cannot load model '{name_or_path}': not a local directory, not in the Hugging Face "
            f"cache and not downloadable here ({type(exc).__name__}). Point the setting at a local "
            "directory with the weights, or build tiny test models with "
            "`hybrid-search models tiny DIR`."
        ) from exc


def flag_embedding() -> types.ModuleType:
    """`import FlagEmbedding`, whatever transformers dropped that only its LLM rerankers use: its
    `__init__` imports them, and they import transformers modules that come and go
    (`modeling_attn_mask_utils` in 5.24), so a missing one becomes a placeholder that raises."""
    for _ in range(8):  # one placeholder per missing module; a bounded number of them
        try:
            return importlib.import_module("FlagEmbedding")
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not missing.startswith("transformers.") or missing in sys.modules:
                raise
            logger.debug("FlagEmbedding imports %s, which transformers lacks", missing)
            sys.modules[missing] = _placeholder(missing)
            for name in [m for m in sys.modules if m.split(".")[0] == "FlagEmbedding"]:
                del sys.modules[name]  # a half-run package import would hide the retry
    raise ImportError("FlagEmbedding imports too many modules this transformers lacks")


def _placeholder(module: str) -> types.ModuleType:
    def missing(name: str) -> type:
        def fail(*_: object, **__: object) -> None:
            raise ImportError(f"{module}.{name} is not in the installed transformers")

        return type(name, (), {"__init__": fail, "__call__": fail})

    stub = types.ModuleType(module)
    stub.__getattr__ = missing  # type: ignore[method-assign]
    return stub


#: CPU arithmetic of a model's Linear layers (README "What it costs"); float32 is the checkpoint's
Precision = Literal["float32", "bf16", "int8"]
#: what `encoder_precision` may say: "auto" is bf16 on a CPU with native bf16, else float32
PrecisionSetting = Literal["auto", "float32", "bf16", "int8"]


def cpu_has_native_bf16() -> bool:
    """avx512_bf16 or AMX in the CPU's flags (Linux): there bf16 ran queries 4.8x and passages
    3.1x faster than float32 within the quality guard; on AVX2 alone it was slower (README)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: PrecisionSetting, device: str) -> Precision:
    """The encoder's arithmetic: a precision is CPU-only, and "auto" what the guard allows."""
    if device != "cpu":
        return "float32"
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "float32"
    return precision


class ModelOptions(TypedDict, total=False):
    """Where and how a model runs: `device` (default "cpu") and `use_fp16` (None: on GPU only)
    resolved at load (asking torch for a GPU costs 1.5 s a BM25-only search skips), and the
    CPU-only `precision` (default float32; "auto" resolved at load, see resolve_precision)."""

    device: str
    use_fp16: bool | None
    precision: PrecisionSetting


def apply_precision(net: Any, precision: Precision) -> None:
    """Set a torch module's precision in place, for CPU inference. int8: dynamic quantisation of
    every Linear layer, weights per output channel (per tensor, MiniLM's cosine to float32 fell to
    0.93 from 0.98). bf16: every weight and activation, kept through FlagEmbedding's casts."""
    if precision == "float32":
        return
    import torch

    if precision == "bf16":
        net.to(torch.bfloat16)
        net.float = lambda: net  # keep bf16 through FlagEmbedding's `model.float()`
        return
    q = torch.ao.quantization
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its successor
        spec = {torch.nn.Linear: q.per_channel_dynamic_qconfig}
        q.quantize_dynamic(net.eval(), spec, dtype=torch.qint8, inplace=True)  # type: ignore[no-untyped-call]


def _silent(kind: str, path: str) -> AbstractContextManager[None]:
    return nullcontext()


#: wraps each model's import and build, given its kind and directory: the CLI tells a terminal
load_hook: Callable[[str, str], AbstractContextManager[None]] = _silent

#: tokenizers per model: one for the interactive searches, one for background work
TOKENIZER_COPIES = 2

#: words each tokenizer copy memoizes: none. The `tokenizers` default keeps the first 10,000
#: words met (~0.65 KiB each) for good, and with 1,000 the service's five copies still filled
#: for minutes under new words (ids, markers, names); a forward pass dwarfs the CPU a cache
#: saves (docs/reliability-soak.md).
TOKENIZER_CACHE_WORDS = 0


def bound_cache(tokenizer: Any, words: int = TOKENIZER_CACHE_WORDS) -> Any:
    """Cap a fast tokenizer's word cache at `words` (each copy on its own: a copy starts at the
    default); one without that cache (WordPiece, a slow one) is left as it is."""
    backend = getattr(tokenizer, "_tokenizer", tokenizer)
    resize = getattr(getattr(backend, "model", None), "_resize_cache", None)
    if callable(resize):
        resize(words)
    return tokenizer


class TokenizerPool:
    """Copies of a fast tokenizer, each used by one call at a time: a call that changes the
    truncation length mutates it, and a racing call gets that truncation or "Already borrowed".
    One shared lock made a search wait behind a background batch (docs/design.md)."""

    def __init__(self, tokenizer: Any, copies: int) -> None:
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._free.put(bound_cache(tokenizer))
        for _ in range(copies - 1):
            self._free.put(bound_cache(copy.deepcopy(tokenizer)))

    @contextmanager
    def use(self) -> Iterator[Any]:
        tok = self._free.get()
        try:
            yield tok
        finally:
            self._free.put(tok)


class LazyModel:
    """A FlagEmbedding model built on first `load()`, once, under a lock that also serialises
    FlagEmbedding's encode calls (they move the model between devices). Single-pass paths place
    the model once and run forward passes concurrently, each with its own tokenizer: holding the
    lock through a pass made a search wait behind an ingest batch (docs/design.md)."""

    kind = "model"  # for messages

    def __init__(self, model: str, **options: Unpack[ModelOptions]) -> None:
        self._model_name = model
        self._device = options.get("device", "cpu")
        self._use_fp16 = options.get("use_fp16", False)
        self._precision: PrecisionSetting = options.get("precision", "float32")
        #: the arithmetic the loaded model runs (resolved at load)
        self.precision: Precision = "float32" if self._precision == "auto" else self._precision
        self._lock = threading.RLock()
        self._model: Any = None
        self._tokenizers: TokenizerPool | None = None
        self._placed = False  # the single-pass model moved to its device and set to eval

    @property
    def name(self) -> str:
        return self._model_name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def flag_model(self) -> Any:
        """The underlying FlagEmbedding object, for tests and benchmarks that compare to it."""
        return self.load()

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = self._resolve(self._model_name)
                if self._device == "auto":
                    import torch

                    self._device = "cuda" if torch.cuda.is_available() else "cpu"
                if self._use_fp16 is None:
                    self._use_fp16 = self._device == "cuda"
                quiet_transformers()
                bound_kernel_cache()  # before the first forward pass, in every process
                try:
                    with load_hook(self.kind, path):
                        model = self._build(path)
                except Exception as exc:
                    raise EncoderError(f"cannot load {self.kind} from {path}: {exc}") from exc
                self._model = self._loaded(model)
                self.precision = resolve_precision(self._precision, self._device)
                apply_precision(model.model, self.precision)
                # part of the loaded model's footprint, not of the first call's
                self._tokenizers = TokenizerPool(model.tokenizer, TOKENIZER_COPIES)
                logger.info("loaded %s %s on %s", self.kind, self._model_name, self._device)
            return self._model

    @property
    def tokenizers(self) -> TokenizerPool:
        """Copies of the model's tokenizer for exclusive use by concurrent calls."""
        if self._tokenizers is None:  # no lock on the hot path once loaded
            self.load()
        assert self._tokenizers is not None  # built by load()
        return self._tokenizers

    def _place_once(self, place: Callable[[], None]) -> None:
        """Run `place` once, before the first single-pass forward pass, however many threads."""
        if not self._placed:
            with self._lock:
                if not self._placed:
                    place()
                    self._placed = True

    def _resolve(self, name: str) -> str:
        return resolve_model_path(name)

    def _build(self, path: str) -> Any:
        raise NotImplementedError

    def _loaded(self, model: Any) -> Any:
        """Adjust the freshly built model (or settings that depend on it); returns the model."""
        return model
