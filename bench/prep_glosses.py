#!/usr/bin/python3
"""A realistic text-embedding set from Debian packages only: the definitions (glosses) of every
WordNet 3.0 synset (package wordnet-base), embedded with fastText (package fasttext) trained on
those same glosses (skipgram, 768 dimensions, whole words); a gloss's vector is fastText's
sentence vector (the mean of its words' normalised vectors).  Such vectors share one large
common direction (their mean has norm ~0.8), as raw outputs of most embedding models do; the set
is centred (the mean of all glosses subtracted, as embedding pipelines do before binary
codes, whose bits are signs) and normalised: unit vectors, cosine metric.

Writes TEXMEX files under OUTDIR:
  base.fvecs   100,000 glosses (float32, unit length)
  query.fvecs  1,000 other glosses (held out: not base points)
  gt.ivecs     exact cosine top-100 of each query among the base (float64, ties by id)
  gt.dist.fvecs the cosine distances (1 - cos) of those neighbours
  spectrum.txt the variance per principal direction (how anisotropic the set is) and the mean's norm
Usage: /usr/bin/python3 prep_glosses.py OUTDIR   (~10 minutes on 2 cores; fastText's training with
two threads is not bit-reproducible, the ground truth is computed from the vectors written)
"""
import os
import re
import subprocess
import sys
import time

import numpy as np

SRC = "/usr/share/wordnet"
N_BASE = 100_000
N_QUERY = 1_000
K_GT = 100
DIM = 768
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def write_vecs(path, a, kind):
    a = np.ascontiguousarray(a, dtype=np.float32 if kind == "f" else np.int32)
    n, d = a.shape
    rows = np.empty((n, d + 1), dtype=np.int32)
    rows[:, 0] = d
    rows[:, 1:] = a.view(np.int32)
    rows.tofile(path)


def glosses():
    """(lemma words, gloss text) of every synset, in file order."""
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(SRC, "data." + pos), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                nwords = int(fields[3], 16)
                words = [fields[4 + 2 * i].lower().replace("_", " ") for i in range(nwords)]
                out.append((" ".join(words), gloss.strip()))
    return out


def tokens(text):
    return " ".join(WORD.findall(text.lower()))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    rows = glosses()
    docs, seen = [], set()
    for words, gloss in rows:
        doc = tokens(gloss)
        if len(doc.split()) >= 3 and doc not in seen:  # identical glosses would tie exactly
            seen.add(doc)
            docs.append(doc)
    print(f"synsets {len(rows)}, distinct glosses of >= 3 words {len(docs)}", flush=True)
    if len(docs) < N_BASE + N_QUERY:
        sys.exit("too few glosses")
    corpus = os.path.join(out, "corpus.txt")
    with open(corpus, "w") as f:
        for words, gloss in rows:  # the lemmas beside their gloss teach the words' contexts
            f.write(tokens(words) + " " + tokens(gloss) + "\n")
    model = os.path.join(out, "model")
    subprocess.run(["fasttext", "skipgram", "-input", corpus, "-output", model, "-dim", str(DIM),
                    "-epoch", "5", "-minCount", "2", "-minn", "0", "-maxn", "0", "-thread", str(os.cpu_count() or 2),
                    "-verbose", "0"], check=True)
    sent = subprocess.run(["fasttext", "print-sentence-vectors", model + ".bin"],
                          input="\n".join(docs) + "\n", capture_output=True, text=True,
                          check=True).stdout.splitlines()
    vec = np.array([[float(x) for x in line.split()[-DIM:]] for line in sent], dtype=np.float64)
    assert vec.shape == (len(docs), DIM), vec.shape
    raw_mean = np.linalg.norm(vec.mean(0))
    vec -= vec.mean(0)
    norm = np.linalg.norm(vec, axis=1)
    keep = norm > 0
    vec = vec[keep] / norm[keep, None]
    print(f"vectors {vec.shape} in {time.time() - t0:.0f} s", flush=True)

    order = np.random.default_rng(20261205).permutation(len(vec))
    base = vec[order[:N_BASE]].astype(np.float32)
    query = vec[order[N_BASE:N_BASE + N_QUERY]].astype(np.float32)
    write_vecs(os.path.join(out, "base.fvecs"), base, "f")
    write_vecs(os.path.join(out, "query.fvecs"), query, "f")

    b64 = base.astype(np.float64)
    b64 /= np.linalg.norm(b64, axis=1)[:, None]
    q64 = query.astype(np.float64)
    q64 /= np.linalg.norm(q64, axis=1)[:, None]
    ids = np.empty((N_QUERY, K_GT), dtype=np.int32)
    dist = np.empty((N_QUERY, K_GT), dtype=np.float32)
    for s in range(0, N_QUERY, 100):
        d = 1.0 - q64[s:s + 100] @ b64.T
        part = np.argpartition(d, K_GT, axis=1)[:, :K_GT]
        pd = np.take_along_axis(d, part, 1)
        for r in range(part.shape[0]):
            o = np.lexsort((part[r], pd[r]))
            ids[s + r] = part[r][o]
            dist[s + r] = pd[r][o]
    write_vecs(os.path.join(out, "gt.ivecs"), ids, "i")
    write_vecs(os.path.join(out, "gt.dist.fvecs"), dist, "f")

    centred = b64 - b64.mean(0)
    ev = np.linalg.eigvalsh(centred.T @ centred / len(b64))[::-1]
    with open(os.path.join(out, "spectrum.txt"), "w") as f:
        f.write(f"mean norm before centring {raw_mean:.4f}, after {np.linalg.norm(b64.mean(0)):.4f}\n")
        f.write(f"variance share of the top 10 / 50 / 100 directions: "
                f"{ev[:10].sum() / ev.sum():.3f} / {ev[:50].sum() / ev.sum():.3f} / "
                f"{ev[:100].sum() / ev.sum():.3f}\n")
        f.write(f"10th neighbour cosine distance: median {np.median(dist[:, 9]):.4f}\n")
    for name in ("corpus.txt", "model.bin", "model.vec"):
        try:
            os.remove(os.path.join(out, name))
        except FileNotFoundError:
            pass
    print(open(os.path.join(out, "spectrum.txt")).read(), end="")
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
