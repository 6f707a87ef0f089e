"""Scoring throughput and memory, measured side by side in one run.

Three ways over the same sequences and model:

(a) ours       ``biocoreset_viz.influence.score``: length-sorted token-budget batches,
               loss over real tokens, closed-form per-sample gradients of
               ``lm_head.dense.weight``, embeddings, Parquet shards written; in
               each variant of ``--ours``: ``full`` (float32, padded batches, fused
               attention), ``bf16`` (the GPU fast path: bfloat16 autocast of the
               encoder), ``bf16+packing`` (plus padding-free packing), ``+compile``;
(b) forward    the model's own stock forward only (fair-esm's ``model(tokens)``, a
               Hugging Face model's ``model(input_ids, attention_mask)``: no
               gradients, nothing written), same batches: the floor any scorer pays;
(c) published  the published algorithm's shape: every sequence padded to a
               1,024-token window, batches of 20, fp32, loss over every window
               position (padding included), per-sample gradients of
               ``lm_head.dense.weight`` (in closed form: fair-esm's forward has
               data-dependent branches that ``vmap(jacrev)`` rejects, and the closed
               form gives the same gradient faster).

Goals (issue 3, 2-core CPU, demo RNA model): (a) >= 5x faster than (c); (a) >= 0.7x
the throughput of (b); peak memory while scoring 100,000 sequences < 2 GB and flat.
Goals (issue 8, one H100, RNA-FM size, log-normal lengths with median 150): the best
(a) >= 10,000 seq/s, >= 5x (b) and >= 50x (c). Goal (issue 16, the model families, 2-core
CPU): a Hugging Face ``EsmForMaskedLM`` of ESM-2 35M shape (random weights) scored at
>= 0.7x its own forward. Results: benchmarks/RESULTS.md.

Models: a name or path, or random weights (throughput does not depend on them):
``random:LAYERS:DIM:HEADS:MOLECULE`` is an ESM-2 (rotary positions),
``random1b:LAYERS:DIM:HEADS:MOLECULE[:FFN]`` an ESM-1b-architecture model as RNA-FM
(learned positions; FFN width default 4 x DIM), ``hf-esm:LAYERS:DIM:HEADS`` a Hugging
Face ``EsmForMaskedLM`` (rotary, token dropout, FFN 4 x DIM; needs transformers) and
``esmc:LAYERS:DIM:HEADS`` an ESM C, both protein models. RNA-FM size is 12:640:20 (the
ESM-2 stand-in has 59.5M parameters), ESM-2 35M is 12:480:20. ``--families`` measures
(a) and (b) of one model of each family (ESM-2 35M shape in fair-esm and Hugging Face
form, ESM C 12:480:20, the Sapiens model) on the same protein sequences, side by side.

    python benchmarks/bench_scoring.py                       # demo RNA model, CPU
    python benchmarks/bench_scoring.py --memory-run 100000   # plus the memory run
    python benchmarks/bench_scoring.py --device cuda --model random:12:640:20:rna \\
        --lengths lognormal --n 20000 --max-tokens 16384      # GPU, RNA-FM size
    python benchmarks/bench_scoring.py --model hf-esm:12:480:20 --molecule protein \\
        --n 300                                               # Hugging Face ESM-2 35M shape
    python benchmarks/bench_scoring.py --families --n 200     # every family, CPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.influence import InfluenceConfig, fit_fisher, score
from biocoreset_viz.models import (
    ESMC,
    Vocabulary,
    alphabet_for_molecule,
    build_esm1b,
    build_esm2,
    encode_batch,
    esmc_vocabulary,
    family_of,
    load_model,
    protein_alphabet,
    token_budget_batches,
)
from biocoreset_viz.sequences import SequenceSet

PUBLISHED_WINDOW = 1024
PUBLISHED_BATCH = 20


OURS_VARIANTS = {
    "full": {},
    "bf16": {"precision": "bf16"},
    "bf16+packing": {"precision": "bf16", "packing": True},
    "packing": {"packing": True},
    "bf16+packing+compile": {"precision": "bf16", "packing": True, "compile": True},
    "bf16+compile": {"precision": "bf16", "compile": True},
}


def hf_esm(layers: int, dim: int, heads: int):
    """A random Hugging Face ``EsmForMaskedLM`` (ESM-2's configuration) and its vocabulary."""
    from transformers import EsmConfig, EsmForMaskedLM

    esm_alphabet = protein_alphabet()  # the Hugging Face ESM vocabulary has the same ids
    vocabulary = Vocabulary(
        esm_alphabet.all_toks, cls="<cls>", padding="<pad>", eos="<eos>", unk="<unk>",
        mask="<mask>", residues=esm_alphabet.standard_toks,
    )  # fmt: skip
    config = EsmConfig(
        vocab_size=len(vocabulary), hidden_size=dim, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * dim,
        pad_token_id=vocabulary.padding_idx, mask_token_id=vocabulary.mask_idx,
        position_embedding_type="rotary", max_position_embeddings=1026, token_dropout=True,
        emb_layer_norm_before=False, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    return EsmForMaskedLM(config), vocabulary


def make_model(spec: str, device: str):
    """Names and paths, ``random:L:D:H:MOLECULE`` (ESM-2), ``random1b:...`` (ESM-1b),
    ``hf-esm:L:D:H`` (Hugging Face ESM) or ``esmc:L:D:H`` (ESM C)."""
    if spec.startswith(("hf-esm:", "esmc:")):
        kind, layers, dim, heads = spec.split(":")
        if kind == "hf-esm":
            model, alphabet = hf_esm(int(layers), int(dim), int(heads))
        else:
            torch.manual_seed(0)
            model, alphabet = ESMC(int(dim), int(heads), int(layers)), esmc_vocabulary()
        model.alphabet = alphabet
    elif spec.startswith(("random:", "random1b:")):
        kind, layers, dim, heads, molecule, *ffn = spec.split(":")
        if kind == "random1b":
            width = int(ffn[0]) if ffn else None
            model = build_esm1b(int(layers), int(dim), int(heads), molecule, ffn_embed_dim=width)
        else:
            model = build_esm2(int(layers), int(dim), int(heads), molecule, seed=0)
        alphabet = alphabet_for_molecule(molecule)
    else:
        model, alphabet = load_model(spec)
    return model.to(device).eval(), alphabet


def make_pool(kind: str, n: int, molecule: str, seed: int = 0) -> SequenceSet:
    """``n`` sequences: resampled from the demo set of the molecule, or log-normal random."""
    rng = np.random.default_rng(seed)
    if kind == "demo":
        demo = load_demo("rna" if molecule == "rna" else "proteome")
        picks = rng.integers(0, len(demo), n)
        sequences = [demo.sequences[i] for i in picks]
    else:
        letters = np.array(list("ACGU" if molecule == "rna" else "ACDEFGHIKLMNPQRSTVWY"))
        lengths = np.clip(rng.lognormal(np.log(150), 0.6, n).astype(int), 10, 1022)
        sequences = ["".join(rng.choice(letters, length)) for length in lengths]
    return SequenceSet([f"s{i}" for i in range(n)], sequences, molecule)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ours(model, alphabet, pool, fisher, config, device) -> float:
    with tempfile.TemporaryDirectory() as run_dir:
        synchronize(device)
        start = time.perf_counter()
        score(model, fisher, pool, config, run_dir, alphabet=alphabet, progress=False)
        synchronize(device)
        return time.perf_counter() - start


def time_forward(model, alphabet, pool, config, device) -> float:
    """(b): the model's own forward (``family.own_logits``) over the same batches."""
    family = family_of(model, alphabet)
    limit = min(PUBLISHED_WINDOW - 2, family.max_residues)  # as (a) cuts them
    lengths = np.minimum(pool.lengths, limit)
    synchronize(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for group in token_budget_batches(lengths, config.max_tokens):
            tokens = encode_batch(alphabet, [pool.sequences[i] for i in group], max_length=limit)
            family.own_logits(tokens.to(device))
    synchronize(device)
    return time.perf_counter() - start


def time_published(model, alphabet, pool, fisher, damping, device) -> float:
    family = family_of(model, alphabet)
    weights = (1.0 / (fisher.values[family.default_target] + damping)).float().to(device)
    window_length = min(PUBLISHED_WINDOW, family.max_residues + 2)
    synchronize(device)
    start = time.perf_counter()
    for first in range(0, len(pool), PUBLISHED_BATCH):
        batch = pool.sequences[first : first + PUBLISHED_BATCH]
        tokens = encode_batch(alphabet, batch, max_length=window_length - 2)
        window = torch.full((len(batch), window_length), alphabet.padding_idx)
        window[:, : tokens.shape[1]] = tokens
        window = window.to(device)
        with torch.no_grad():
            features = family.own_hidden_states(window)  # (B, W, D)
        z = family.dense(features).detach().requires_grad_(True)  # (B, W, D)
        logits = family.head_after_dense(z)  # (B, W, V)
        losses = F.cross_entropy(logits.transpose(1, 2), window, reduction="none").mean(1)  # (B,)
        (delta,) = torch.autograd.grad(losses.sum(), z)
        gradients = delta.transpose(1, 2) @ features  # (B, D, D)
        (gradients.square() * weights).sum((1, 2)).cpu()
    synchronize(device)
    return time.perf_counter() - start


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This process's peak resident memory (``VmHWM``).

    Not ``getrusage``: Linux carries ``ru_maxrss`` over from the parent across
    fork and exec, so a child started after (c) would report (c)'s peak.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_child(args: argparse.Namespace) -> None:
    """Score ``args.memory_child`` sequences, sampling resident memory as it goes."""
    model, alphabet = make_model(args.model, args.device)
    pool = make_pool(args.lengths, args.memory_child, args.molecule, seed=1)
    config = InfluenceConfig(fisher_subset=500, device=args.device, max_tokens=args.max_tokens)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.perf_counter(), rss_bytes()))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    with tempfile.TemporaryDirectory() as run_dir:
        score(model, fisher, pool, config, run_dir, alphabet=alphabet, progress=False)
    done.set()
    sampler.join()
    elapsed = time.perf_counter() - start
    rss = np.array([r for _, r in samples])
    tenths = [int(rss[: max(1, len(rss) * k // 10)].max()) for k in (1, 5, 10)]
    print(
        json.dumps(
            {
                "n": args.memory_child,
                "seconds": elapsed,
                "peak_rss": peak_rss_bytes(),
                "max_rss_first_10pct": tenths[0],
                "max_rss_first_50pct": tenths[1],
                "max_rss_all": tenths[2],
            }
        )
    )


FAMILY_MODELS = (
    "random:12:480:20:protein",  # fair-esm ESM-2, 35M shape
    "hf-esm:12:480:20",  # Hugging Face EsmForMaskedLM, the same shape
    "esmc:12:480:20",  # ESM C blocks at that width
    "sapiens-vh",  # the bundled pretrained fairseq RoBERTa
)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="demo-rna", help="model name/path or random:L:D:H:MOLECULE"
    )
    parser.add_argument("--molecule", default="rna", choices=("rna", "protein"))
    parser.add_argument("--lengths", default="demo", choices=("demo", "lognormal"))
    parser.add_argument("--n", type=int, default=1000, help="sequences for (a), (b) and (c)")
    parser.add_argument(
        "--published-n",
        type=int,
        help="sequences for (c) (default: --n); every one costs a 1,024-token window",
    )
    parser.add_argument(
        "--ours",
        default="full",
        help=f"comma-separated variants of (a): {', '.join(OURS_VARIANTS)} (default: full)",
    )
    parser.add_argument(
        "--warmup", type=int, default=40, help="sequences run untimed through each method first"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument(
        "--families",
        action="store_true",
        help=f"(a) full and (b) for {', '.join(FAMILY_MODELS)} on the same protein "
        "sequences (log-normal lengths, median 150); no (c)",
    )
    parser.add_argument("--memory-run", type=int, default=0, help="also score this many in a child")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    variants = [v.strip() for v in args.ours.split(",") if v.strip()]
    unknown = [v for v in variants if v not in OURS_VARIANTS]
    if unknown or not variants:
        parser.error(f"--ours: unknown variants {unknown}; choose from {', '.join(OURS_VARIANTS)}")
    args.variants = variants
    return args


def measure(args, model, alphabet, pool, variants, published_n: int) -> dict[str, float]:
    """Seconds of each (a) variant, of (b) and (``published_n`` > 0) of (c), warmed up."""
    config = InfluenceConfig(
        fisher_subset=min(200, len(pool)), device=args.device, max_tokens=args.max_tokens
    )
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    configs = {
        name: InfluenceConfig(**{**config.to_dict(), **OURS_VARIANTS[name]}) for name in variants
    }
    warm = pool.subset(range(max(1, min(args.warmup, len(pool)))))
    for variant in configs.values():  # compiles, autotunes and allocates once, untimed
        time_ours(model, alphabet, warm, fisher, variant, args.device)
    time_forward(model, alphabet, warm, config, args.device)
    seconds = {
        f"ours, {name}": time_ours(model, alphabet, pool, fisher, variant, args.device)
        for name, variant in configs.items()
    }
    seconds["forward"] = time_forward(model, alphabet, pool, config, args.device)
    if published_n:
        first = pool.subset(range(published_n))
        time_published(model, alphabet, warm.subset(range(min(20, len(warm)))), fisher,
                       config.damping, args.device)  # fmt: skip
        seconds["published"] = time_published(
            model, alphabet, first, fisher, config.damping, args.device
        )
    return seconds


def describe(spec: str, model, alphabet) -> str:
    record = family_of(model, alphabet).architecture_record()
    parameters = sum(p.numel() for p in model.parameters())
    return (
        f"{spec} ({type(model).__name__}, {family_of(model, alphabet).name}, "
        f"{record['layers']} layers, {record['embed_dim']} dim, {parameters / 1e6:.2f}M parameters)"
    )


def print_setting(args, pool, extra: str = "") -> None:
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(
        f"device {args.device} ({device_name}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, commit {git_commit()}"
    )
    lengths = pool.lengths
    print(
        f"{len(pool)} sequences ({args.lengths}), length median {np.median(lengths):.0f}, "
        f"mean {lengths.mean():.0f}, max {lengths.max()}; token budget {args.max_tokens}{extra}"
    )
    print()


def families_table(args) -> None:
    """(a) and (b) of one model per family on the same protein sequences, one table."""
    args.lengths = "lognormal"
    pool = make_pool("lognormal", args.n, "protein")
    print_setting(args, pool)
    print("| model | family | (a) ours, full seq/s | (b) own forward seq/s | (a) / (b) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for spec in FAMILY_MODELS:
        model, alphabet = make_model(spec, args.device)
        seconds = measure(args, model, alphabet, pool, ["full"], published_n=0)
        ours, forward = len(pool) / seconds["ours, full"], len(pool) / seconds["forward"]
        family = family_of(model, alphabet).name
        print(f"| {describe(spec, model, alphabet)} | {family} | {ours:,.1f} | {forward:,.1f} "
              f"| {ours / forward:.2f}x |", flush=True)  # fmt: skip
    print()
    print("goal (issue 16): the Hugging Face EsmForMaskedLM of ESM-2 35M shape >= 0.7x (b)")


def main() -> None:
    args = parse_arguments()
    if args.memory_child:
        memory_child(args)
        return
    if args.families:
        families_table(args)
        return
    model, alphabet = make_model(args.model, args.device)
    pool = make_pool(args.lengths, args.n, args.molecule)
    published_n = min(args.published_n or args.n, args.n)
    seconds = measure(args, model, alphabet, pool, args.variants, published_n)
    ours = {name: value for name, value in seconds.items() if name.startswith("ours")}
    rates = {f"(a) {name}": args.n / value for name, value in ours.items()}
    rates["(b) the model's own stock forward, fp32 (floor)"] = args.n / seconds["forward"]
    rates["(c) published shape (1024 window, batch 20, fp32)"] = published_n / seconds["published"]
    best_name = max(ours, key=lambda name: args.n / ours[name])
    best = args.n / ours[best_name]
    stock_rate = args.n / seconds["forward"]
    published_rate = published_n / seconds["published"]

    print(f"model {describe(args.model, model, alphabet)}")
    print_setting(args, pool, f"; (c) on the first {published_n}")
    print("| method | seq/s |")
    print("| --- | ---: |")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.1f} |")
    print()
    print(f"best (a) = {best_name}: {best:,.1f} seq/s")
    print(
        f"(a) vs (b): {best / stock_rate:.2f}x   (a) vs (c): {best / published_rate:.1f}x   "
        "goals on one H100: (a) >= 10,000 seq/s, >= 5x (b), >= 50x (c); "
        "on the 2-core CPU with the demo model: >= 0.7x (b), >= 5x (c)"
    )

    if args.memory_run:
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(args.memory_run),
             "--model", args.model, "--molecule", args.molecule, "--lengths", args.lengths,
             "--device", args.device, "--max-tokens", str(args.max_tokens)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        report = json.loads(child.stdout.strip().splitlines()[-1])
        gib = 1024**3
        print(
            f"memory run: {report['n']:,} sequences in {report['seconds']:.0f} s "
            f"({report['n'] / report['seconds']:.0f} seq/s); peak RSS {report['peak_rss'] / gib:.2f} GiB "
            f"(goal < 2 GB: {'met' if report['peak_rss'] < 2e9 else 'NOT met'}); max RSS after "
            f"10% / 50% / 100% of the run: {report['max_rss_first_10pct'] / gib:.2f} / "
            f"{report['max_rss_first_50pct'] / gib:.2f} / {report['max_rss_all'] / gib:.2f} GiB"
        )


if __name__ == "__main__":
    main()
