#!/usr/bin/env bash
# Builds and checks Replay's model code against libtorch 2.x.
#
# Why: the project builds on Debian bookworm (libtorch 1.13), but the model code
# must also compile and give the same numbers on libtorch 2.x (code guarded by
# TORCH_VERSION_MAJOR, e.g. at::scaled_dot_product_attention in
# src/model/attention.cpp). Debian trixie ships libtorch 2.x (CPU), so this
# script builds the current working tree inside a trixie chroot.
#
# What it does:
#   1. installs debootstrap on the host if missing;
#   2. creates (or reuses) a minbase trixie chroot with only the packages the
#      top-level CMakeLists.txt needs at configure time (see CHROOT_PACKAGES);
#   3. copies the working tree (tracked + untracked, non-ignored files) to
#      /src in the chroot and builds the replay binary, test_model, test_train
#      and bench_model_train into /src/build-torch2 (Release, Ninja,
#      nice -n 19, -j2);
#   4. runs test_model (incl. the Python reference oracle under torch 2.x),
#      test_train (incl. the SIGKILL bit-exact resume tests) and a 2-step
#      bench_model_train for every attention path (auto, explicit, tasks,
#      sdpa): the losses must agree.
#
# Usage: sudo scripts/torch2_check.sh [CHROOT_DIR]   (must run as root)
#   CHROOT_DIR      default $REPLAY_TORCH2_CHROOT or /var/tmp/replay-trixie
#   REPLAY_TORCH2_ORACLE=0   skip python3-torch (the Oracle tests then skip)
#   REPLAY_TORCH2_JOBS=N     build jobs (default 2)
#
# How long (2-core machine, measured): creating the chroot about 3 min
# (debootstrap 41 s + packages 135 s, 2.5 GB under CHROOT_DIR); clean build of
# the model targets about 1.5 min, the trainer and the binary 1.5 min more;
# tests and bench about 20 s. Later runs reuse the chroot and the build dir (tar keeps mtimes, so
# ninja rebuilds only what changed): typically under a minute.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${1:-${REPLAY_TORCH2_CHROOT:-/var/tmp/replay-trixie}}"
MIRROR="http://deb.debian.org/debian"
JOBS="${REPLAY_TORCH2_JOBS:-2}"
BUILD=/src/build-torch2
TARGETS=(replay test_model test_train bench_model_train)

# Everything the top-level CMakeLists.txt requires at configure time
# (find_package / pkg_check_modules REQUIRED for every stage, even though only
# the model library is built), plus libtorch-dev's CMake config dependencies.
CHROOT_PACKAGES=(
  g++ cmake ninja-build pkg-config
  libtorch-dev           # libtorch 2.x (CPU) + TorchConfig.cmake; pulls libprotobuf-dev
  libopenblas0-openmp    # libtorch's BLAS: the OpenMP flavour, as scripts/setup.sh picks
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libgtest-dev libxxhash-dev
  # Not used by the model code, but configure requires them (pkg_check_modules
  # / find_package REQUIRED for every stage):
  libsqlite3-dev libarchive-dev libgumbo-dev libpcre2-dev libzstd-dev zlib1g-dev
  libcairo2-dev libcminpack-dev
)
# The Oracle tests in test_model run tests/model/reference_llama.py with
# /usr/bin/python3 and torch; without it they skip.
if [ "${REPLAY_TORCH2_ORACLE:-1}" != 0 ]; then CHROOT_PACKAGES+=(python3-torch); fi

log() { printf '[torch2_check %(%H:%M:%S)T] %s\n' -1 "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "torch2_check: must run as root (debootstrap, chroot, mount)" >&2
  exit 1
fi
case "$ROOT" in
  "$REPO"|"$REPO"/*) echo "torch2_check: chroot dir must be outside the repo: $ROOT" >&2; exit 1 ;;
esac

# 1. debootstrap on the host.
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

# Mounts are undone on any exit, including errors and Ctrl-C.
MOUNTED=()
cleanup() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount -l "${MOUNTED[i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
mount_in_chroot() {  # mount_in_chroot TYPE-or---bind SOURCE TARGET
  local target="$ROOT$3"
  mountpoint -q "$target" && return 0
  mkdir -p "$target"
  if [ "$1" = --bind ]; then mount --bind "$2" "$target"; else mount -t "$1" "$2" "$target"; fi
  MOUNTED+=("$target")
}
in_chroot() {
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

# 2. The chroot: debootstrap once, then install the package list whenever it
#    changed (the stamp holds the list that was installed).
BOOT_STAMP="$ROOT/.replay-debootstrap-complete"
PKG_STAMP="$ROOT/.replay-packages-complete"
if [ ! -e "$BOOT_STAMP" ]; then
  log "creating trixie chroot in $ROOT (debootstrap --variant=minbase)"
  t0=$SECONDS
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  nice -n 19 debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
  touch "$BOOT_STAMP"
  log "debootstrap took $((SECONDS - t0)) s"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount_in_chroot proc proc /proc
mount_in_chroot --bind /dev /dev

if [ ! -e "$PKG_STAMP" ] || [ "$(cat "$PKG_STAMP")" != "${CHROOT_PACKAGES[*]}" ]; then
  log "installing into the chroot: ${CHROOT_PACKAGES[*]}"
  t0=$SECONDS
  in_chroot apt-get update -qq
  in_chroot nice -n 19 apt-get install -y -qq --no-install-recommends "${CHROOT_PACKAGES[@]}" >/dev/null
  in_chroot apt-get clean
  printf '%s' "${CHROOT_PACKAGES[*]}" >"$PKG_STAMP"
  log "package install took $((SECONDS - t0)) s"
fi

# shellcheck disable=SC2016  # ${Version} is dpkg-query's field, not a shell variable
torch_pkg="$(in_chroot dpkg-query -W -f='${Version}' libtorch-dev)"
torch_hdr="$(awk '/#define TORCH_VERSION_(MAJOR|MINOR|PATCH) /{v = v sep $3; sep = "."} END {print v}' \
  "$ROOT"/usr/include/torch/csrc/api/include/torch/version.h)"
log "libtorch-dev $torch_pkg (torch/version.h: $torch_hdr), g++ $(in_chroot g++ -dumpversion)"

# 3. A fresh copy of the working tree. The build dir survives; tar keeps
#    mtimes, so ninja rebuilds only what changed since the last run.
log "copying working tree $REPO -> $ROOT/src"
mkdir -p "$ROOT/src"
find "$ROOT/src" -mindepth 1 -maxdepth 1 ! -name "$(basename "$BUILD")" -exec rm -rf {} +
git -C "$REPO" ls-files -co --exclude-standard -z |
  (cd "$REPO" && while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) |
  tar -C "$REPO" --null -T - -cf - | tar -C "$ROOT/src" -xf -

log "configuring + building ${TARGETS[*]} (Release, -j$JOBS, nice -n 19)"
t0=$SECONDS
in_chroot nice -n 19 cmake -S /src -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
in_chroot nice -n 19 cmake --build "$BUILD" --target "${TARGETS[@]}" -j "$JOBS"
log "build took $((SECONDS - t0)) s"

# 4. Tests and the attention paths.
for test in model/test_model train/test_train; do
  name=$(basename "$test")
  log "running $name (log: $ROOT/tmp/$name.log)"
  if in_chroot sh -c "cd $BUILD && nice -n 19 ./tests/$test" >"$ROOT/tmp/$name.log" 2>&1; then
    grep -E '^\[ *(SKIPPED|PASSED|FAILED) *\]|^oracle |tests? ran' "$ROOT/tmp/$name.log" || true
  else
    status=$?
    cat "$ROOT/tmp/$name.log"
    log "$name FAILED (exit $status)"
    exit "$status"
  fi
done

log "bench_model_train, tiny preset, batch 2 x seq 64, 1 warmup + 2 steps, per attention path"
losses=()
for path in auto explicit tasks sdpa; do
  line="$(in_chroot nice -n 19 "$BUILD/bench/model/bench_model_train" --preset tiny --steps 2 \
    --warmup 1 --batch 2 --seq 64 --attention "$path")"
  loss="$(sed -n 's/.*"first_loss": \([0-9.]*\), "last_loss": \([0-9.]*\).*/first_loss \1 last_loss \2/p' <<<"$line")"
  [ -n "$loss" ] || { echo "unexpected bench output: $line" >&2; exit 1; }
  printf '  %-8s %s\n' "$path" "$loss"
  losses+=("$loss")
done
if [ "$(printf '%s\n' "${losses[@]}" | sort -u | wc -l)" -ne 1 ]; then
  log "FAILED: the attention paths give different losses"
  exit 1
fi
log "all attention paths agree"

log "done: libtorch $torch_hdr builds ${TARGETS[*]} and passes test_model and test_train"
