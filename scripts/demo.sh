#!/usr/bin/env bash
# scripts/demo.sh: set up a fresh machine (scripts/setup.sh) and run facerec's main job on the
# bundled sample images (scripts/demo-johns.sh: enrol dlib's five Johns from three chips each,
# identify every other image of them in one batch, on the GPU when there is one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
exec "$root/scripts/demo-johns.sh" "$root/build/facerec" "$root/samples/johns"
