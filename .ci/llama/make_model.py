#!/usr/bin/env python3
"""Writes a tiny llama-architecture GGUF with random weights, a REAL tokenizer and a REAL
chat template, for tests that need a real llama-server but no real model.

Pure standard library (no numpy: PyPI is out of reach here and gguf-py needs numpy), so the
GGUF v3 format is read and written by hand below:
  "GGUF" u32:version u64:n_tensors u64:n_kv, then n_kv x (key, u32 type, value),
  then n_tensors x (name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset),
  then the tensor data, each tensor aligned to 32 bytes (general.alignment's default).

The tokenizer (all tokenizer.ggml.* keys) is copied from one of llama.cpp's own
models/ggml-vocab-*.gguf files, the chat template from one of its models/templates/*.jinja.

The weights are random but shaped so the model is useful to tests:
  * it only ever says one of a few dozen common English words, or end-of-sequence, so the
    text is printable (no stray byte tokens / broken UTF-8) and a completion ends by itself
    ("stop") after a few dozen tokens on average, or hits max_tokens ("length");
  * the choice still depends on the prompt (attention and MLP are random), so different
    prompts give different answers, and the same prompt + seed gives the same answer.
This works through a constant "bias" channel: every token embedding has dimension 0 set to
a constant, no layer writes to dimension 0 (row 0 of attn_output/ffn_down is zero), so after
the final norm dimension 0 is a large constant, and output.weight's column 0 gives each
token a fixed logit offset: +BIAS for the chosen words and EOS, -BIAS for everything else.

Usage: make_model.py --vocab ggml-vocab-llama-spm.gguf --template x.jinja --out model.gguf
"""
import argparse
import array
import random
import struct
import sys

GGUF_MAGIC = b"GGUF"
ALIGN = 32
# GGUF metadata value types
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
SCALAR = {T_U8: "B", T_I8: "b", T_U16: "H", T_I16: "h", T_U32: "I", T_I32: "i", T_F32: "f",
          T_BOOL: "?", T_U64: "Q", T_I64: "q", T_F64: "d"}
GGML_TYPE_F32 = 0

# Words the model may say (looked up as word-start tokens of the vocabulary; missing ones are
# skipped). Plain ASCII on purpose.
WORDS = ("the job is done and a task was queued for the worker to run now then it will "
         "retry later because service said hello world yes no ok maybe soon again "
         "data result value time").split()


class Reader:
    """Just enough of a GGUF reader to copy metadata out of a vocab-only file."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.d = f.read()
        self.o = 0
        if self.d[:4] != GGUF_MAGIC:
            sys.exit(f"{path}: not a GGUF file")
        self.o = 4
        version, n_tensors, n_kv = self.read("I"), self.read("Q"), self.read("Q")
        if version != 3:
            sys.exit(f"{path}: GGUF version {version}, expected 3")
        self.kv = {}  # key -> (type, value, element type for arrays)
        for _ in range(n_kv):
            key = self.read_str()
            t = self.read("I")
            if t == T_ARR:
                et, n = self.read("I"), self.read("Q")
                self.kv[key] = (t, [self.read_val(et) for _ in range(n)], et)
            else:
                self.kv[key] = (t, self.read_val(t), None)

    def read(self, fmt):
        v = struct.unpack_from("<" + fmt, self.d, self.o)[0]
        self.o += struct.calcsize("<" + fmt)
        return v

    def read_str(self):
        n = self.read("Q")
        s = self.d[self.o:self.o + n].decode("utf-8")
        self.o += n
        return s

    def read_val(self, t):
        if t == T_STR:
            return self.read_str()
        if t == T_ARR:
            sys.exit("nested GGUF arrays are not expected in a vocab file")
        return self.read(SCALAR[t])


def pack_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def pack_val(t, v, et=None):
    if t == T_STR:
        return pack_str(v)
    if t == T_ARR:
        head = struct.pack("<IQ", et, len(v))
        if et == T_STR:
            return head + b"".join(pack_str(x) for x in v)
        return head + struct.pack("<%d%s" % (len(v), SCALAR[et]), *v)
    return struct.pack("<" + SCALAR[t], v)


def write_gguf(path, kv, tensors):
    """kv: list of (key, type, value, elem_type); tensors: list of (name, dims, array('f'))."""
    out = bytearray(GGUF_MAGIC)
    out += struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, t, v, et in kv:
        out += pack_str(key) + struct.pack("<I", t) + pack_val(t, v, et)
    offset = 0
    for name, dims, data in tensors:
        out += pack_str(name) + struct.pack("<I", len(dims))
        out += struct.pack("<%dQ" % len(dims), *dims)
        out += struct.pack("<IQ", GGML_TYPE_F32, offset)
        offset += -(-len(data) * 4 // ALIGN) * ALIGN
    out += b"\0" * (-len(out) % ALIGN)
    with open(path, "wb") as f:
        f.write(out)
        for _, _, data in tensors:
            raw = data.tobytes()
            f.write(raw + b"\0" * (-len(raw) % ALIGN))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", required=True, help="llama.cpp models/ggml-vocab-*.gguf")
    ap.add_argument("--template", required=True, help="a Jinja chat template (models/templates/*.jinja)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="jobservice-tiny-random")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--embd", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=128)
    ap.add_argument("--ctx", type=int, default=4096, help="trained context length written in the file")
    ap.add_argument("--bias", type=float, default=8.0, help="logit offset for the allowed tokens")
    ap.add_argument("--spread", type=float, default=0.3,
                    help="scale of the random part of the allowed tokens' output rows: larger = "
                         "more peaked choices (greedy loops), smaller = closer to uniform")
    args = ap.parse_args()

    vocab = Reader(args.vocab)
    tokens = vocab.kv["tokenizer.ggml.tokens"][1]
    n_vocab, n_embd, n_ff, n_head = len(tokens), args.embd, args.ff, args.heads
    eos = vocab.kv["tokenizer.ggml.eos_token_id"][1]
    with open(args.template, encoding="utf-8") as f:
        template = f.read()

    # Word-start marker: SentencePiece uses U+2581, GPT-2 style BPE uses U+0120.
    marker = "\u2581" if vocab.kv["tokenizer.ggml.model"][1] == "llama" else "\u0120"
    index = {tok: i for i, tok in enumerate(tokens)}
    allowed = sorted({index[marker + w] for w in WORDS if marker + w in index})
    if len(allowed) < 10:
        sys.exit("too few of the words are single tokens in this vocabulary")

    rng = random.Random(args.seed)

    def uniform(n, scale):
        # Uniform in [-scale, scale): random bytes are ~20x faster than random.uniform() here.
        k = scale / 128.0
        return array.array("f", (b * k for b in array.array("b", rng.randbytes(n))))

    def const(n, v):
        return array.array("f", [v]) * n

    const_dim = 4.0  # dimension 0 of every embedding: the constant bias channel
    embd = uniform(n_vocab * n_embd, 1.0)
    for t in range(n_vocab):
        embd[t * n_embd] = const_dim

    # output.weight: row t = [offset_t, random...] for allowed tokens, [-bias, 0...] otherwise.
    out_w = array.array("f", [0.0]) * (n_vocab * n_embd)
    for t in range(n_vocab):
        out_w[t * n_embd] = -args.bias
    for t in allowed + [eos]:
        row = uniform(n_embd, args.spread)
        row[0] = args.bias
        out_w[t * n_embd:(t + 1) * n_embd] = row

    # GGUF dims are ggml's ne[] (fastest-varying first): a weight [n_in, n_out] is n_out rows
    # of n_in floats, so "row 0" is the part of the output that lands in dimension 0.
    tensors = [("token_embd.weight", [n_embd, n_vocab], embd),
               ("output_norm.weight", [n_embd], const(n_embd, 1.0)),
               ("output.weight", [n_embd, n_vocab], out_w)]
    w_scale = 1.0 / n_embd ** 0.5
    for i in range(args.layers):
        attn_out = uniform(n_embd * n_embd, w_scale)
        ffn_down = uniform(n_ff * n_embd, 1.0 / n_ff ** 0.5)
        for j in range(n_embd):
            attn_out[j] = 0.0  # row 0: nothing is written to the bias channel
        for j in range(n_ff):
            ffn_down[j] = 0.0
        tensors += [
            (f"blk.{i}.attn_norm.weight", [n_embd], const(n_embd, 1.0)),
            (f"blk.{i}.attn_q.weight", [n_embd, n_embd], uniform(n_embd * n_embd, w_scale)),
            (f"blk.{i}.attn_k.weight", [n_embd, n_embd], uniform(n_embd * n_embd, w_scale)),
            (f"blk.{i}.attn_v.weight", [n_embd, n_embd], uniform(n_embd * n_embd, w_scale)),
            (f"blk.{i}.attn_output.weight", [n_embd, n_embd], attn_out),
            (f"blk.{i}.ffn_norm.weight", [n_embd], const(n_embd, 1.0)),
            (f"blk.{i}.ffn_gate.weight", [n_embd, n_ff], uniform(n_embd * n_ff, w_scale)),
            (f"blk.{i}.ffn_up.weight", [n_embd, n_ff], uniform(n_embd * n_ff, w_scale)),
            (f"blk.{i}.ffn_down.weight", [n_ff, n_embd], ffn_down),
        ]

    kv = [
        ("general.architecture", T_STR, "llama", None),
        ("general.name", T_STR, args.name, None),
        ("general.file_type", T_U32, 0, None),  # all F32
        ("llama.vocab_size", T_U32, n_vocab, None),
        ("llama.context_length", T_U32, args.ctx, None),
        ("llama.embedding_length", T_U32, n_embd, None),
        ("llama.feed_forward_length", T_U32, n_ff, None),
        ("llama.block_count", T_U32, args.layers, None),
        ("llama.attention.head_count", T_U32, n_head, None),
        ("llama.attention.head_count_kv", T_U32, n_head, None),
        ("llama.rope.dimension_count", T_U32, n_embd // n_head, None),
        ("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5, None),
    ]
    kv += [(k, t, v, et) for k, (t, v, et) in vocab.kv.items() 
           if k.startswith("tokenizer.") and not k.startswith("tokenizer.chat_template")]
    kv.append(("tokenizer.chat_template", T_STR, template, None))

    write_gguf(args.out, kv, tensors)
    print(f"wrote {args.out}: {n_vocab} tokens, {len(allowed)} sayable words + EOS, "
          f"{args.layers} layers, n_embd {n_embd}")


if __name__ == "__main__":
    main()
