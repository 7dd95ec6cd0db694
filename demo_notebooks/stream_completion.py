"""Stream a code completion through the public model API.

With no ANTHROPIC_API_KEY this runs on the embedded offline model (SmolLM2-135M-Instruct, on the CPU);
with a key, on claude-haiku-5-5. Run: python demo_notebooks/stream_completion.py [CODE]
"""

import sys
import time

from jupyter_layers.models import Failure, Message, Request, Text, TextDelta, Usage
from jupyter_layers.models.router import Router

CODE = sys.argv[1] if len(sys.argv) > 1 else "def fibonacci(n):\n    "

router = Router()
notice = router.offline_notice()
if notice:
    print(notice, file=sys.stderr)
route = router.route("complete")
request = Request(
    system=(Text("Continue the user's Python code. Reply with code only, no explanations, no markdown fences."),),
    messages=(Message.user(CODE),),
    max_tokens=96,
    temperature=0.2,
)

print(f"--- {route.label} completes:", file=sys.stderr)
sys.stdout.write(CODE)
started = time.perf_counter()
first_token = None
usage = Usage()
for event in route.stream(request):
    if isinstance(event, TextDelta):
        first_token = first_token or time.perf_counter()
        sys.stdout.write(event.text)
        sys.stdout.flush()
    elif isinstance(event, Usage):
        usage = event
    elif isinstance(event, Failure):
        sys.exit(f"\n{event.error}")
print()
elapsed = time.perf_counter() - started
print(
    f"--- {usage.output_tokens} tokens; first after {1000 * (first_token - started):.0f} ms; done in {elapsed:.2f} s",
    file=sys.stderr,
)
