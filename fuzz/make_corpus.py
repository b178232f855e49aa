"""Write every UDP payload of the sFlow captures in tests/data into a seed corpus directory.

Seeds that are real datagrams let the fuzzer start deep inside samples and records
instead of rediscovering the sFlow header. Usage: ``python fuzz/make_corpus.py corpus/``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from conftest import sflow_captures, udp_payloads  # noqa: E402  (needs the path above)


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "corpus")
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name in sflow_captures():
        for trust in (True, False):  # the hostile capture differs between the two
            for _, payload in udp_payloads(name, trust_udp_length=trust):
                (out / hashlib.sha1(payload).hexdigest()).write_bytes(payload)
                written += 1
    print(f"{written} seeds ({len(list(out.iterdir()))} distinct) in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
