#!/usr/bin/env bash
# napari-unet developer entry point: sets everything up, then starts napari or runs the tests.
#
#   bash scripts/dev.sh start                     napari with the plugin docked and a sample loaded
#   bash scripts/dev.sh start --screenshot F.png  the same window headless (Xvfb), saved to F.png, exit 0
#   bash scripts/dev.sh test [PYTEST ARGS]        ruff + the whole test suite, headless
#   bash scripts/dev.sh bench SCRIPT [ARGS]       a benchmark from benchmarks/ (installs its extras)
#   bash scripts/dev.sh env                       only set up the environment
#
# Environment overrides:
#   NAPARI_UNET_VENV   where the virtual environment lives (default: .venv in the repository)
#   NAPARI_UNET_TORCH  the pip requirement for torch (default: torch==2.13.0, the local CPU build,
#                      on machines without an NVIDIA driver; plain "torch" where nvidia-smi works)
#   PYTHON             the interpreter that creates the environment (default: python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${NAPARI_UNET_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
SCREEN="-screen 0 1600x1000x24"

say() { printf '[napari-unet] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- system libraries: OpenGL (Mesa, software rendering), Xvfb and the X/Qt platform libraries ---
SYSTEM_PACKAGES="libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 xvfb xauth libxkbcommon-x11-0
libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0
libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libfontconfig1 libdbus-1-3"

system_libs_missing() {
    command -v xvfb-run >/dev/null 2>&1 || return 0
    local lib known
    known=$(ldconfig -p 2>/dev/null || true)  # read once: grep -q on a pipe would SIGPIPE ldconfig
    for lib in libGL.so.1 libEGL.so.1 libxkbcommon-x11.so.0 libxcb-cursor.so.0 libxcb-icccm.so.4 \
        libfontconfig.so.1 libdbus-1.so.3; do
        [[ $known == *"$lib"* ]] || return 0
    done
    return 1
}

ensure_system_libs() {
    system_libs_missing || return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing OpenGL/Xvfb system libraries with apt-get"
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $SYSTEM_PACKAGES >/dev/null
    else
        die "napari needs OpenGL and (headless) Xvfb system libraries that are missing here.
Install them as root, for example on Debian/Ubuntu:
  sudo apt-get install $(echo $SYSTEM_PACKAGES)
then run this command again."
    fi
}

# --- the Python environment -----------------------------------------------------------------
torch_requirement() {
    if [ -n "${NAPARI_UNET_TORCH:-}" ]; then
        echo "$NAPARI_UNET_TORCH"
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
        echo "torch"
    else
        echo "torch==2.13.0"
    fi
}

ensure_venv() {
    local extras="testing,benchmarks"
    local torch_req
    torch_req=$(torch_requirement)
    local stamp="$VENV/.napari-unet-stamp"
    local want
    want=$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/dev.sh" | sha1sum | cut -c1-16)-$extras-$torch_req
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the virtual environment in $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
    say "installing $torch_req (first, so nothing else pulls a different build)"
    "${pip[@]}" "$torch_req"
    say "installing napari-unet[$extras] in editable mode"
    "${pip[@]}" -e "$ROOT[$extras]"
    echo "$want" >"$stamp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
env)
    ensure_system_libs
    ensure_venv
    ;;
start)
    ensure_system_libs
    ensure_venv
    screenshot=""
    rest=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --screenshot) screenshot=${2:?--screenshot needs a file path}; shift 2 ;;
        *) rest+=("$1"); shift ;;
        esac
    done
    if [ -n "$screenshot" ]; then
        exec xvfb-run -a -s "$SCREEN" "$VENV/bin/python" "$ROOT/scripts/launch.py" \
            --screenshot "$screenshot" "${rest[@]+"${rest[@]}"}"
    fi
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
        die "no screen here (DISPLAY is not set). Use: bash scripts/dev.sh start --screenshot out.png"
    fi
    exec "$VENV/bin/python" "$ROOT/scripts/launch.py" "${rest[@]+"${rest[@]}"}"
    ;;
test)
    ensure_system_libs
    ensure_venv
    cd "$ROOT"
    say "ruff check"
    "$VENV/bin/python" -m ruff check src tests benchmarks scripts
    say "pytest (headless, under Xvfb)"
    exec xvfb-run -a -s "$SCREEN" "$VENV/bin/python" -m pytest "$@"
    ;;
bench)
    ensure_system_libs
    ensure_venv
    script=${1:?usage: dev.sh bench benchmarks/SCRIPT.py [ARGS]}
    shift
    cd "$ROOT"
    exec "$VENV/bin/python" "$script" "$@"
    ;;
*)
    sed -n '2,15p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
