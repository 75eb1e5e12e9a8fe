"""Core speed: validation and compile of 1,000-node graphs, training throughput against hand-written
PyTorch, and time to 97 % validation accuracy on digits against PyTorch and scikit-learn.

    python bench/bench_core.py            # prints a table; numbers go into the issue notes

Ratios are measured in one process, interleaved, best of several repeats (the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from builder.analysis.validate import analyze  # noqa: E402
from builder.library.templates import TEMPLATES  # noqa: E402
from builder.spec.spec import parse_spec  # noqa: E402
from engine.compile.fx_module import compile_analysis  # noqa: E402
from engine.data.datasets import fit_to_analysis, load_dataset  # noqa: E402
from engine.threads import ThreadChoice, apply_threads  # noqa: E402
from engine.train.backprop import Trainer, seed_everything  # noqa: E402
from engine.train.config import TrainConfig  # noqa: E402


def chain_spec(n: int):
    nodes = [{"id": "x", "op": "Input", "params": {"shape": [16]}}]
    for i in range(1, n):
        nodes.append(
            {"id": f"n{i}", "op": "Linear", "params": {"out_features": 16}} if i % 2 else {"id": f"n{i}", "op": "ReLU"}
        )
    edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:])]
    return parse_spec({"version": 1, "name": "chain", "nodes": nodes, "edges": edges})[0]


def residual_spec(n: int):
    """Blocks of fc -> relu -> add(prev): 3 nodes per block, each Add fed by the block input too."""
    nodes, edges, prev = [{"id": "x", "op": "Input", "params": {"shape": [16]}}], [], "x"
    for k in range((n - 1) // 3):
        nodes += [
            {"id": f"fc{k}", "op": "Linear", "params": {"out_features": 16}},
            {"id": f"act{k}", "op": "ReLU"},
            {"id": f"add{k}", "op": "Add"},
        ]
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"act{k}"), (f"act{k}", f"add{k}"), (prev, f"add{k}")]
        prev = f"add{k}"
    raw = {"version": 1, "name": "residual", "nodes": nodes, "edges": [{"source": s, "target": t} for s, t in edges]}
    return parse_spec(raw)[0]


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_graphs(repeats: int) -> list[tuple[str, float]]:
    rows = []
    for name, spec in (("1,000-node chain", chain_spec(1000)), ("1,000-node residual DAG", residual_spec(1000))):
        assert len(spec.nodes) >= 999 and analyze(spec).ok
        rows.append((f"validate + infer shapes, {name} (ms)", 1e3 * best_time(lambda s=spec: analyze(s), repeats)))
        a = analyze(spec)
        rows.append((f"compile, {name} (ms)", 1e3 * best_time(lambda a=a: compile_analysis(a), max(1, repeats // 2))))
    return rows


class HandMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act1, self.fc2 = nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(self.act1(self.fc1(x)))


class HandLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 3, padding=1), nn.Conv2d(6, 16, 3, padding=1)
        self.pool, self.fc1, self.fc2 = nn.MaxPool2d(2), nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def hand_epochs(model, x, y, epochs: int, batch: int, seed: int, val=None, target=None):
    """The reference: data in memory, a seeded permutation, batches by indexing. Returns (seconds, epochs to
    reach `target` val accuracy or None)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if val is not None:
            model.eval()
            with torch.no_grad():
                accuracy = (model(val[0]).argmax(1) == val[1]).float().mean().item()
            model.train()
            if accuracy >= target:
                return time.perf_counter() - start, epoch
    return time.perf_counter() - start, None


def ours(template: str, epochs: int, seed: int):
    spec = TEMPLATES[template].spec()
    a = analyze(spec)
    data = fit_to_analysis(load_dataset("digits", seed=0), a)
    seed_everything(seed)
    model = compile_analysis(a)
    config = TrainConfig(
        dataset="digits", optimizer="adam", lr=1e-3, batch_size=32, epochs=epochs, seed=seed, device="cpu", log_every=50
    )
    return Trainer(model, data, config), data, model


def bench_throughput(epochs: int, repeats: int) -> list[tuple[str, float]]:
    """Best of `repeats` interleaved runs for each side (the fastest run is the least disturbed one)."""
    rows = []
    for template, hand in (("mlp_digits", HandMLP), ("lenet", HandLeNet)):
        hand_t, compiled_t, trainer_t = [], [], []
        for r in range(repeats):
            trainer, data, compiled = ours(template, epochs, seed=r)
            torch.manual_seed(r)
            hand_t.append(hand_epochs(hand(), data.x_train, data.y_train, epochs, 32, seed=r)[0])
            compiled_t.append(hand_epochs(compiled, data.x_train, data.y_train, epochs, 32, seed=r)[0])
            trainer, _, _ = ours(template, epochs, seed=r)
            trainer_t.append([e for e in trainer.run()][-1]["train_seconds"])
        rows.append(
            (f"{template}: compiled module / hand-written, same loop (throughput ratio)", min(hand_t) / min(compiled_t))
        )
        rows.append(
            (
                f"{template}: NetCanvas Trainer / hand-written loop (throughput ratio, training steps)",
                min(hand_t) / min(trainer_t),
            )
        )
    return rows


def sklearn_time_to(target: float, data, max_epochs: int, seed: int):
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(128,), solver="adam", learning_rate_init=1e-3, batch_size=32, random_state=seed
    )
    x, y = data.x_train.numpy(), data.y_train.numpy()
    xv, yv = data.x_val.numpy(), data.y_val.numpy()
    start = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        clf.partial_fit(x, y, classes=np.arange(10))
        if (clf.predict(xv) == yv).mean() >= target:
            return time.perf_counter() - start, epoch
    return time.perf_counter() - start, None


def bench_time_to_accuracy(target: float, repeats: int) -> list[tuple[str, float]]:
    ours_t, hand_t, sk_t, epochs = [], [], [], []
    for r in range(repeats):
        trainer, data, _ = ours("mlp_digits", 60, seed=r)
        start, reached = time.perf_counter(), None
        for event in trainer.run():
            if event["kind"] == "epoch" and event["val_accuracy"] >= target:
                reached = event["epoch"]
                break
        ours_t.append(time.perf_counter() - start)
        torch.manual_seed(r)
        t, hand_epochs_needed = hand_epochs(
            HandMLP(), data.x_train, data.y_train, 60, 32, seed=r, val=(data.x_val, data.y_val), target=target
        )
        hand_t.append(t)
        t_sk, sk_epochs = sklearn_time_to(target, data, 60, seed=r)
        sk_t.append(t_sk)
        epochs.append((reached, hand_epochs_needed, sk_epochs))
    o, h, s = min(ours_t), min(hand_t), min(sk_t)
    per_repeat = sorted(a / b for a, b in zip(ours_t, hand_t))
    print(f"  NetCanvas / hand-written per repeat (same epochs each): median {per_repeat[len(per_repeat) // 2]:.3f}")
    print(f"  epochs to {target:.0%} (ours, hand, sklearn) per repeat: {epochs}")
    return [
        (f"time to {target:.0%} val accuracy, NetCanvas (s)", o),
        (f"time to {target:.0%} val accuracy, hand-written PyTorch (s)", h),
        (f"time to {target:.0%} val accuracy, scikit-learn MLPClassifier(128) (s)", s),
        ("NetCanvas / hand-written PyTorch (time ratio, goal <= 1.1)", o / h),
        ("NetCanvas / scikit-learn (time ratio)", o / s),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps a shared machine steady)")
    args = parser.parse_args()
    apply_threads(ThreadChoice(args.threads, "--threads of this bench"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), cpu")
    rows = bench_graphs(args.repeats) + bench_throughput(args.epochs, args.repeats)
    rows += bench_time_to_accuracy(0.97, args.repeats)
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value:8.3f}")


if __name__ == "__main__":
    main()
