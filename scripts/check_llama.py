"""Does the installed llama-cpp-python run the shipped GGUF model? Exit 0 if so, 1 if it is missing or crashes.

The model runs in a child process, so a segfault in native code is reported instead of killing this script.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, tempfile
sys.path.insert(0, ".")
from llama_cpp import Llama
from assistant.backends.gguf import gguf_path
with tempfile.TemporaryDirectory() as models:
    model = Llama(str(gguf_path(models)), n_ctx=256, n_threads=2, verbose=False)
    print(repr(model("The capital of France is", max_tokens=3)["choices"][0]["text"]))
"""


def main() -> int:
    """Run a three-token completion in a child process and say how it went."""
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, cwd=ROOT)
    except subprocess.TimeoutExpired:
        print("check_llama: the probe did not finish within 300 s", file=sys.stderr)
        return 1
    if done.returncode == 0:
        print(f"check_llama: llama.cpp runs the model (it wrote {done.stdout.strip()})")
        return 0
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    print(f"check_llama: llama.cpp failed (exit code {done.returncode}): {' | '.join(tail)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
