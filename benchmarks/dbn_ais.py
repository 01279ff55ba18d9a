"""How far is a trained DBN's reported bound from converged? Its top RBM's ``log Z`` by AIS.

A DBN's test NLL (``density == "bound"``) is ``-(E_q[...] - log Z)`` with the top RBM's ``log Z``
estimated by annealed importance sampling. ``Z_hat`` is unbiased, so ``log Z_hat`` is low on
average and the reported NLL is too *good* by the AIS error — by many nats when the chains do not
equilibrate (Salakhutdinov & Murray 2008 used 14,500-100,000 intermediate distributions). This
script checks the estimate two ways and prints the test NLL each implies:

* a **certain lower bound** on ``log Z``: ``Z = sum_v exp(-F(v)) >= sum_{v in S} exp(-F(v))`` for
  any set ``S`` of distinct states; ``S`` = the distinct up-pass samples of the training images
  (``--samples`` per image; :meth:`DBN.top_states` and :meth:`RBM.log_partition_lower_bound`,
  what ``genzoo eval`` checks with 4 per image). If it exceeds the AIS estimate, that estimate is
  provably too low;
* AIS again with ``--steps`` intermediate distributions and three base rates: the RBM's visible
  biases (genzoo's default before the base rate was stored), the stored base rate (genzoo's
  default: the marginals of the training batches the RBM saw; the visible biases for a run
  saved before it existed) and the marginal log-odds of the training images' mean-field
  up-pass (the paper's choice).

    OMP_NUM_THREADS=2 python benchmarks/dbn_ais.py runs/bench-binary-digits/dbn --steps 1000 3000

The same applies to a single ``rbm`` run (its own ``log Z``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

import genzoo
from autoregressive import evaluated
from genzoo.core.run import RunFolder


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--steps", type=int, nargs="*", default=[1000, 3000])
    parser.add_argument("--samples", type=int, default=20, help="up-pass samples per image")
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    run = RunFolder(args.run)
    model = genzoo.load_model(run.path).double().eval()
    spec = run.read_data_spec()
    if spec is None:
        raise SystemExit(f"{run.path} has no {run.DATA_SPEC}: pass a run written by `genzoo train`")
    data = genzoo.load_dataset(spec["name"], levels=model.levels)
    dims = math.prod(data.shape)
    if model.name == "dbn":
        depth = model.layers_trained
        top = model.rbms[depth - 1]
        up = model.rbms[0].flat(data.train).double()
        for rbm in model.rbms[: depth - 1]:  # the mean-field up-pass of the training images
            up = rbm.hidden_probs(up)
    else:
        top, up = model, model.flat(data.train).double()
    p = up.mean(0).clamp(1e-3, 1 - 1e-3)
    stored = "stored (default)" if int(top.data_count.sum()) else "stored = visible biases (old)"
    bases = {
        "visible biases": top.visible_bias,
        stored: None,
        "up-pass marginals (paper)": torch.log(p / (1 - p)),
    }
    # the bound's other terms, E = log_prob + log Z, whatever log Z is used (one AIS step: fast)
    top.ais_steps = 1
    expectation = float(model.log_prob(data.test).double().mean() + top.log_partition()[0])
    nll = evaluated(run, run.read_metrics().test, "test likelihood").nll_nats
    used = nll + expectation  # the log Z the run reported with
    print(f"{args.run}: {top.num_dims} x {top.hidden} top RBM; reported test NLL {nll:.3f} nats "
          f"({nll / dims / math.log(2):.4f} bits/dim) with log Z = {used:.3f} "
          f"({model.config['ais_steps']} steps, {top.ais_chains} chains)")  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    if model.name == "dbn":  # distinct states, one byte per unit: [<= samples * N, D]
        states = model.top_states(data.train, samples=args.samples, generator=gen)
    else:
        states = model.flat(data.train).to(torch.uint8).unique(dim=0)
    lower = float(top.log_partition_lower_bound(states)[0])
    implied = lower - expectation  # with the exact log Z the reported NLL is at least this
    print(
        f"  certain lower bound on log Z from {len(states)} distinct states: {lower:.3f} -> "
        f"reported NLL with the exact log Z: at least {implied:.3f} nats "
        f"({implied / dims / math.log(2):.4f} bits/dim)"
    )
    rows = [{"lower_bound_log_z": round(lower, 3), "states": len(states),
             "test_nll_nats_at_least": round(implied, 3)}]  # fmt: skip
    for steps in args.steps:
        for name, base in bases.items():
            start = time.perf_counter()
            est = top.log_partition_ais(
                steps, args.chains, generator=torch.Generator().manual_seed(1), base_logits=base
            )[0]
            log_z = float(est.log_z)
            implied = log_z - expectation
            rows.append({"steps": steps, "base": name, "log_z": round(log_z, 3),
                         "stderr": round(est.stderr, 3), "test_nll_nats": round(implied, 3),
                         "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
            print(f"  steps {steps:>6}, base {name:<30}: log Z {log_z:10.3f} ± {est.stderr:.3f}"
                  f" -> test NLL {implied:.3f} nats ({implied / dims / math.log(2):.4f} bits/dim)"
                  f"  [{rows[-1]['seconds']} s]", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps(
                {"run": str(args.run), "reported_nll": nll, "log_z_used": used, "rows": rows},
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
