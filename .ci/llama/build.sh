#!/usr/bin/env bash
# Builds llama.cpp's real `llama-server` and a tiny random-weight model for the tests, all in a
# cache directory outside the repository. Idempotent: a second run only checks stamps (~1 s).
#
#   .ci/llama/build.sh [CACHE_DIR]      (default: ${LLAMA_CACHE:-$HOME/.cache/jobservice-llama})
#
# Nothing is downloaded but two pinned npm packages (and Debian packages if a tool is missing):
#   node-llama-cpp                its llama/gitRelease.bundle is llama.cpp's source (a git bundle),
#                                 with models/ggml-vocab-*.gguf tokenizers and models/templates/;
#   @node-llama-cpp/linux-x64     the same release's prebuilt libggml*/libllama/libllama-common.
# Only tools/server (plus the small static libs it links that the package lacks: mtmd,
# cpp-httplib) is compiled, against the prebuilt libraries: see CMakeLists.txt beside this file.
#
# The last two lines printed are machine-readable:
#   LLAMA_SERVER_BIN=<path>/llama-server
#   LLAMA_MODEL=<path>/<model>.gguf
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${1:-${LLAMA_CACHE:-$HOME/.cache/jobservice-llama}}

# Pinned packages. The two versions must be the same release: node-llama-cpp names its
# @node-llama-cpp/linux-x64 optional dependency by exact version, and both carry the
# llama.cpp release tag; both are checked below. Integrity values are the registry's.
NLC_VERSION=3.22.1
NLC_INTEGRITY=sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw==
NLC_BIN_VERSION=3.22.1
NLC_BIN_INTEGRITY=sha512-5uCCDNqWCNfaAm8aR/Uzxbo4HBpKgNF91kCHPepKhgMgV2OAmatoefbOlMihsqCiH2Od35E/eUHQCFbfRBJuOg==

# The default test model: Mistral-7B-Instruct-style tokenizer (SentencePiece, 32000 tokens,
# <s> / </s>) with the Mistral-Nemo chat template, which allows one leading system message
# and raises "After the optional system message, conversation roles must alternate
# user/assistant/user/assistant/..." for anything else (a second system message included).
MODEL_VOCAB=models/ggml-vocab-llama-spm.gguf
MODEL_TEMPLATE=models/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja
MODEL_NAME=jobservice-tiny-mistral

SRC=$CACHE/src/llama.cpp      # llama.cpp checkout from the bundle
PREBUILT=$CACHE/npm/linux-x64/package/bins/linux-x64
BIN=$CACHE/bin                # llama-server + copies of the prebuilt .so files
MODEL=$CACHE/models/$MODEL_NAME.gguf

log() { echo "[llama build] $*" >&2; }
start=$(date +%s)
mkdir -p "$CACHE"
# Two builds at once (two test runs, or a developer and a script) would trample each other.
exec 9>"$CACHE/.lock"
flock 9

# ---- 1. tools: install from Debian only what is missing -------------------------------------
missing=()
for tool in g++:g++ cmake:cmake make:make git:git npm:npm python3:python3 curl:curl; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing from Debian: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# ninja (if present) keeps both cores busy across targets; make is the fallback.
if command -v ninja >/dev/null 2>&1; then GENERATOR=Ninja; else GENERATOR="Unix Makefiles"; fi
JOBS=$(nproc)

# Stamps: each step records a key of its inputs and is redone only when that key changes.
key_of() { cat "$@" | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$CACHE/.stamp-$1" ] && [ "$(cat "$CACHE/.stamp-$1")" = "$2" ]; }
stamp_set() { echo "$2" >"$CACHE/.stamp-$1"; }

# ---- 2. the two npm packages (npm pack: the tarballs only, no install scripts, no deps) -----
npm_key=$(echo "$NLC_VERSION $NLC_INTEGRITY $NLC_BIN_VERSION $NLC_BIN_INTEGRITY" | sha256sum | cut -c1-16)
if ! stamp_ok npm "$npm_key" || [ ! -d "$PREBUILT" ]; then
  log "fetching node-llama-cpp@$NLC_VERSION and @node-llama-cpp/linux-x64@$NLC_BIN_VERSION from npm"
  rm -rf "$CACHE/npm" && mkdir -p "$CACHE/npm"
  (cd "$CACHE/npm" && npm pack --silent --json "node-llama-cpp@$NLC_VERSION" \
      "@node-llama-cpp/linux-x64@$NLC_BIN_VERSION" >pack.json)
  # npm checks the registry's integrity while downloading; compare it with the pinned values
  # too, so a changed pin is a conscious edit of this file.
  node -e '
    const p = require(process.argv[1]);
    const want = {"node-llama-cpp": process.argv[2], "@node-llama-cpp/linux-x64": process.argv[3]};
    for (const e of p) if (want[e.name] !== e.integrity) {
      console.error(`integrity mismatch for ${e.name}: ${e.integrity}`); process.exit(1); }
  ' "$CACHE/npm/pack.json" "$NLC_INTEGRITY" "$NLC_BIN_INTEGRITY"
  mkdir -p "$CACHE/npm/nlc" "$CACHE/npm/linux-x64"
  tar -xzf "$CACHE/npm/node-llama-cpp-$NLC_VERSION.tgz" -C "$CACHE/npm/nlc" \
      package/package.json package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  tar -xzf "$CACHE/npm/node-llama-cpp-linux-x64-$NLC_BIN_VERSION.tgz" -C "$CACHE/npm/linux-x64"
  rm -f "$CACHE"/npm/*.tgz
  # Same release? node-llama-cpp pins its binary package by exact version, and both record
  # the llama.cpp release they were made from.
  node -e '
    const [nlcDir, binDir, binVersion] = process.argv.slice(1);
    const pkg = require(nlcDir + "/package/package.json");
    const pinned = pkg.optionalDependencies["@node-llama-cpp/linux-x64"];
    const srcTag = require(nlcDir + "/package/llama/llama.cpp.info.json").tag;
    const binTag = require(binDir + "/package/bins/linux-x64/_nlcBuildMetadata.json").buildOptions.llamaCpp.release;
    if (pinned !== binVersion || srcTag !== binTag) {
      console.error(`version mismatch: node-llama-cpp wants linux-x64 ${pinned} (have ${binVersion}); source ${srcTag}, binaries ${binTag}`);
      process.exit(1);
    }
    console.error(`[llama build] llama.cpp release ${srcTag} (source and binaries agree)`);
  ' "$CACHE/npm/nlc" "$CACHE/npm/linux-x64" "$NLC_BIN_VERSION"
  stamp_set npm "$npm_key"
fi

# ---- 3. llama.cpp source from the bundle ----------------------------------------------------
if ! stamp_ok src "$npm_key" || [ ! -f "$SRC/tools/server/CMakeLists.txt" ]; then
  log "checking out llama.cpp from gitRelease.bundle"
  rm -rf "$SRC" && mkdir -p "$(dirname "$SRC")"
  git clone --quiet "$CACHE/npm/nlc/package/llama/gitRelease.bundle" "$SRC" 2>/dev/null
  stamp_set src "$npm_key"
fi

# ---- 4. llama-server, compiled against the prebuilt libraries -------------------------------
server_key=$(key_of "$HERE/CMakeLists.txt" <(echo "$npm_key $GENERATOR"))
if ! stamp_ok server "$server_key" || [ ! -x "$BIN/llama-server" ]; then
  log "compiling llama-server ($GENERATOR, -j$JOBS); a few minutes on 2 cores"
  t0=$(date +%s)
  rm -rf "$CACHE/build"
  cmake -S "$HERE" -B "$CACHE/build" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_OPTIMIZE_DEPENDENCIES=ON \
      -DLLAMA_SRC="$SRC" -DLLAMA_PREBUILT="$PREBUILT" \
      >"$CACHE/build.log" 2>&1 || { tail -30 "$CACHE/build.log"; exit 1; }
  cmake --build "$CACHE/build" --target llama-server -j "$JOBS" >>"$CACHE/build.log" 2>&1 \
      || { tail -50 "$CACHE/build.log"; exit 1; }
  # Binary next to copies of the prebuilt libs: its RUNPATH is $ORIGIN, and ggml loads its
  # CPU backend (libggml-cpu-<best variant for this CPU>.so) from the executable's directory.
  rm -rf "$BIN" && mkdir -p "$BIN"
  cp "$PREBUILT"/*.so "$BIN/"
  cp "$CACHE/build/server/llama-server" "$BIN/llama-server"
  rm -rf "$CACHE/build"  # ~100 MB of objects; a rebuild is rare
  "$BIN/llama-server" --version >/dev/null 2>&1 || { echo "llama-server does not start"; exit 1; }
  log "llama-server compiled in $(( $(date +%s) - t0 )) s"
  stamp_set server "$server_key"
fi

# ---- 5. the tiny random-weight model --------------------------------------------------------
model_key=$(key_of "$HERE/make_model.py" "$SRC/$MODEL_VOCAB" "$SRC/$MODEL_TEMPLATE")
if ! stamp_ok model "$model_key" || [ ! -f "$MODEL" ]; then
  log "writing $MODEL_NAME.gguf"
  mkdir -p "$CACHE/models"
  python3 "$HERE/make_model.py" --vocab "$SRC/$MODEL_VOCAB" --template "$SRC/$MODEL_TEMPLATE" \
      --name "$MODEL_NAME" --out "$MODEL.tmp" >&2
  mv "$MODEL.tmp" "$MODEL"
  stamp_set model "$model_key"
fi

log "done in $(( $(date +%s) - start )) s (cache: $CACHE)"
echo "LLAMA_SERVER_BIN=$BIN/llama-server"
echo "LLAMA_MODEL=$MODEL"
