"""The torch modules the op catalog needs beyond plain torch.nn.

Every forward takes one tensor and returns one tensor (batch first), uses no in-place operations
(backward hooks for gradient probes depend on that) and compiles with torch.jit.script, so a network
made of these modules exports to TorchScript and ONNX. The recurrent and attention wrappers subclass
their torch.nn counterparts so that state-dict keys stay the familiar ones (`lstm.weight_ih_l0`);
their forwards call the same torch functions as torch.nn does, because TorchScript has no `super()`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Step(nn.Module):
    """Heaviside step, 1 if x >= 0 else 0 (Rosenblatt's threshold unit fires at 0), with a straight-through
    gradient (d out / d x = 1)."""

    def forward(self, x: Tensor) -> Tensor:
        step = (x >= 0).to(x.dtype)
        return x + (step - x).detach()  # value of step, gradient of x


class BipolarStep(nn.Module):
    """Bipolar step, +1 if x > 0 else -1 (so -1 at exactly 0, the sign convention), with a straight-through gradient."""

    def forward(self, x: Tensor) -> Tensor:
        step = 2 * (x > 0).to(x.dtype) - 1
        return x + (step - x).detach()  # value of step, gradient of x


class PiecewiseLinear(nn.Module):
    """Saturating linear unit clamp(x / width + 1/2, 0, 1): 0 below -width/2, 1 above width/2, linear between.

    The gradient is 1 / width for -width/2 <= x <= width/2 (torch.clamp passes it at the two ends) and 0 outside.
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = width

    def forward(self, x: Tensor) -> Tensor:
        return torch.clamp(x / self.width + 0.5, 0.0, 1.0)


class BipolarSigmoid(nn.Module):
    """2 * sigmoid(x) - 1, computed as tanh(x / 2) (the same function, exact near 0); outputs in (-1, 1)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x / 2)


class OneMinus(nn.Module):
    """1 - x, element-wise: the share a gate in [0, 1] leaves to the other side (a GRU's 1 - z)."""

    def forward(self, x: Tensor) -> Tensor:
        return 1.0 - x


class Maxout(nn.Module):
    """Max over `pieces` linear pieces per output unit, on the last dimension.

    One Linear computes all out_features * pieces values; unit j owns columns j * pieces ... j * pieces + pieces - 1.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2):
        super().__init__()
        self.out_features = out_features
        self.pieces = pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        z = self.linear(x)  # (..., out * pieces)
        z = z.unflatten(-1, (self.out_features, self.pieces))  # (..., out, pieces)
        return z.amax(dim=-1)  # (..., out)


class RBM(nn.Module):
    """Restricted Boltzmann machine on flat inputs; forward gives the hidden probabilities.

    visible="bernoulli": binary visible units (sigmoid); "gaussian": real-valued visible units with unit
    variance (their conditional mean is linear). `k` is the number of Gibbs steps a CD-k trainer runs.
    """

    def __init__(self, n_visible: int, n_hidden: int, k: int = 1, visible: str = "bernoulli"):
        super().__init__()
        assert visible in ("bernoulli", "gaussian"), visible
        self.n_visible, self.n_hidden, self.k, self.visible = n_visible, n_hidden, k, visible
        self.weight = nn.Parameter(torch.randn(n_hidden, n_visible) * 0.01)  # (H, V)
        self.h_bias = nn.Parameter(torch.zeros(n_hidden))  # (H,)
        self.v_bias = nn.Parameter(torch.zeros(n_visible))  # (V,)

    def forward(self, v: Tensor) -> Tensor:
        return self.hidden_probs(v)  # (B, H)

    def hidden_probs(self, v: Tensor) -> Tensor:
        return torch.sigmoid(F.linear(v, self.weight, self.h_bias))  # (B, H)

    def visible_probs_or_mean(self, h: Tensor) -> Tensor:
        activation = F.linear(h, self.weight.t(), self.v_bias)  # (B, V)
        return torch.sigmoid(activation) if self.visible == "bernoulli" else activation

    def sample_hidden(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """(probabilities, binary sample) of the hidden units given visible v."""
        probs = self.hidden_probs(v)  # (B, H)
        return probs, torch.bernoulli(probs)

    def sample_visible(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """(probabilities or mean, sample) of the visible units given hidden h."""
        mean = self.visible_probs_or_mean(h)  # (B, V)
        if self.visible == "bernoulli":
            return mean, torch.bernoulli(mean)
        return mean, mean + torch.randn_like(mean)

    def gibbs(self, v: Tensor, steps: int) -> Tensor:
        """Run `steps` rounds of v -> h -> v and return the last visible sample (B, V)."""
        for _ in range(steps):
            _, h = self.sample_hidden(v)
            _, v = self.sample_visible(h)
        return v

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) per example (B,); lower means more probable. Hidden units are summed out."""
        hidden_term = F.softplus(F.linear(v, self.weight, self.h_bias)).sum(dim=1)  # (B,)
        if self.visible == "bernoulli":
            return -(v @ self.v_bias) - hidden_term
        return 0.5 * (v - self.v_bias).pow(2).sum(dim=1) - hidden_term


class SOM(nn.Module):
    """Self-organising map: rows * cols units on a grid, each with a weight vector in input space.

    forward gives each unit's negative squared Euclidean distance to the input, (B, rows * cols), so the
    best matching unit is the argmax. Unit u sits at grid position (u // cols, u % cols).
    """

    def __init__(self, n_features: int, rows: int, cols: int):
        super().__init__()
        self.n_features, self.rows, self.cols = n_features, rows, cols
        self.weight = nn.Parameter(torch.rand(rows * cols, n_features))  # (U, F)

    def forward(self, x: Tensor) -> Tensor:
        x_sq = x.pow(2).sum(dim=1, keepdim=True)  # (B, 1)
        w_sq = self.weight.pow(2).sum(dim=1)  # (U,)
        cross = x @ self.weight.t()  # (B, U)
        sq_dist = (x_sq - 2 * cross + w_sq).clamp(min=0.0)  # (B, U); clamp float round-off below zero
        return -sq_dist

    def best_matching_unit(self, x: Tensor) -> Tensor:
        return self.forward(x).argmax(dim=1)  # (B,) int64 unit index

    def grid_positions(self) -> Tensor:
        """(U, 2) float (row, col) of every unit, for neighbourhood functions."""
        units = torch.arange(self.rows * self.cols, device=self.weight.device)
        return torch.stack([units // self.cols, units % self.cols], dim=1).to(self.weight.dtype)


def sequence_or_last(output: Tensor, h_n: Tensor, return_sequences: bool, num_directions: int) -> Tensor:
    """The whole output sequence (B, T, D * H), or the top layer's final state per direction (B, D * H).

    For a bidirectional layer the final state of the backward direction is the one it reaches at t = 0,
    which is why "last" comes from h_n and not from output[:, -1].
    """
    if return_sequences:
        return output
    top = h_n[h_n.size(0) - num_directions :]  # (D, B, H): the top layer's final state per direction
    return top.transpose(0, 1).flatten(1)  # (B, D * H): forward first, like output's feature layout


def zero_state(x: Tensor, num_states: int, hidden_size: int) -> Tensor:
    """Initial hidden state (num_layers * directions, B, H) of zeros, like torch.nn's default."""
    return torch.zeros(num_states, x.size(0), hidden_size, dtype=x.dtype, device=x.device)


# RNNLayer, LSTMLayer and GRULayer repeat their __init__ and spell out the torch.rnn_* / torch.lstm / torch.gru
# call in full, on purpose: each subclasses its own torch.nn class (so its state-dict keys are torch's), a shared
# base would be a class model.py must copy too and TorchScript must script through, and TorchScript cannot hold a
# builtin such as torch.rnn_tanh in a variable, so the two RNN calls stay two calls.


class RNNLayer(nn.RNN):
    """Elman RNN, batch first, returning one tensor (see sequence_or_last)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bidirectional: bool = False,
        return_sequences: bool = True,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers=num_layers,
            nonlinearity=nonlinearity,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.return_sequences = return_sequences

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F)
        self._update_flat_weights()  # as torch.nn does: parameters may have been swapped (torch.func)
        directions = 2 if self.bidirectional else 1
        h0 = zero_state(x, self.num_layers * directions, self.hidden_size)  # (L * D, B, H)
        if self.mode == "RNN_TANH":
            output, h_n = torch.rnn_tanh(
                x,
                h0,
                self._flat_weights,
                self.bias,
                self.num_layers,
                self.dropout,
                self.training,
                self.bidirectional,
                True,
            )  # (B, T, D * H), (L * D, B, H)
        else:
            output, h_n = torch.rnn_relu(
                x,
                h0,
                self._flat_weights,
                self.bias,
                self.num_layers,
                self.dropout,
                self.training,
                self.bidirectional,
                True,
            )
        return sequence_or_last(output, h_n, self.return_sequences, directions)


class LSTMLayer(nn.LSTM):
    """LSTM, batch first, returning one tensor (see sequence_or_last)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        return_sequences: bool = True,
    ):
        super().__init__(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
        self.return_sequences = return_sequences

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F)
        self._update_flat_weights()  # as torch.nn does: parameters may have been swapped (torch.func)
        directions = 2 if self.bidirectional else 1
        h0 = zero_state(x, self.num_layers * directions, self.hidden_size)  # (L * D, B, H); c0 alike
        output, h_n, _ = torch.lstm(
            x,
            [h0, h0],
            self._flat_weights,
            self.bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
            True,
        )  # (B, T, D * H), (L * D, B, H)
        return sequence_or_last(output, h_n, self.return_sequences, directions)


class GRULayer(nn.GRU):
    """GRU, batch first, returning one tensor (see sequence_or_last)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        return_sequences: bool = True,
    ):
        super().__init__(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
        self.return_sequences = return_sequences

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F)
        self._update_flat_weights()  # as torch.nn does: parameters may have been swapped (torch.func)
        directions = 2 if self.bidirectional else 1
        h0 = zero_state(x, self.num_layers * directions, self.hidden_size)  # (L * D, B, H)
        output, h_n = torch.gru(
            x, h0, self._flat_weights, self.bias, self.num_layers, self.dropout, self.training, self.bidirectional, True
        )  # (B, T, D * H), (L * D, B, H)
        return sequence_or_last(output, h_n, self.return_sequences, directions)


class Recurrent(nn.Module):
    """A cell run over the time steps of (B, T, F), from a zero state: the `Recurrent` op
    (builder/ops/ops_recurrent.py).

    `cell(x_t, state) -> state` takes x_t (B, F) and its state, a list of `num_states` tensors (B, hidden) (h, or h
    and c), and returns the new state, h first. With `cell_reverse` a second cell reads the steps backwards and
    its h is concatenated after the forward one, as torch.nn.LSTM's bidirectional output is: each step gives
    (forward h after x_0..x_t, backward h after x_T-1..x_t), and the last step (not return_sequences) is the two
    final states (forward after x_T-1, backward after x_0).
    """

    def __init__(
        self,
        cell: nn.Module,
        hidden: int,
        num_states: int,
        return_sequences: bool = True,
        cell_reverse: nn.Module | None = None,
    ):
        super().__init__()
        self.cell = cell
        self.cell_reverse = cell_reverse
        self.hidden = hidden
        self.num_states = num_states
        self.return_sequences = return_sequences

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F)
        steps = x.size(1)
        zero = torch.zeros(x.size(0), self.hidden, dtype=x.dtype, device=x.device)  # (B, H)
        forward_state = [zero for _ in range(self.num_states)]
        backward_state = [zero for _ in range(self.num_states)]
        forward_h = []  # T x (B, H)
        backward_h = []  # T x (B, H), last step first
        for t in range(steps):
            forward_state = self.cell(x[:, t], forward_state)
            forward_h.append(forward_state[0])
            if self.cell_reverse is not None:
                backward_state = self.cell_reverse(x[:, steps - 1 - t], backward_state)
                backward_h.append(backward_state[0])
        if self.cell_reverse is None:
            return torch.stack(forward_h, 1) if self.return_sequences else forward_state[0]  # (B, T, H) or (B, H)
        if not self.return_sequences:
            return torch.cat([forward_state[0], backward_state[0]], 1)  # (B, 2H)
        backward_h.reverse()  # step order
        return torch.cat([torch.stack(forward_h, 1), torch.stack(backward_h, 1)], 2)  # (B, T, 2H)


def causal_mask(steps: int, device: torch.device) -> Tensor:
    """(T, T) boolean mask, True where step i must not see step j (j > i)."""
    return torch.ones(steps, steps, dtype=torch.bool, device=device).triu(1)


class PositionalEmbedding(nn.Module):
    """Adds a learned vector per position: (B, T, F) + weight (T, F)."""

    def __init__(self, steps: int, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(steps, features) * 0.1)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F)
        return x + self.weight  # (B, T, F)


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention on (B, T, E): query = key = value = x; returns the attention output only.
    With `causal`, step t attends to steps <= t only."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, causal: bool = False):
        super().__init__(embed_dim, num_heads, dropout=dropout, batch_first=True)
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:  # (B, T, E)
        mask = causal_mask(x.shape[1], x.device) if self.causal else None  # (T, T)
        seq = x.transpose(0, 1)  # (T, B, E): the functional form is sequence first
        attended, _ = F.multi_head_attention_forward(
            seq,
            seq,
            seq,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            need_weights=False,
            attn_mask=mask,
        )  # (T, B, E)
        return attended.transpose(0, 1)  # (B, T, E)


class EncoderLayer(nn.TransformerEncoderLayer):
    """Post-norm transformer encoder layer on (B, T, E) with ReLU feed-forward; state-dict keys as in
    nn.TransformerEncoderLayer. With `causal`, step t attends to steps <= t only."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, causal: bool = False):
        super().__init__(d_model, nhead, dim_feedforward=dim_feedforward, dropout=dropout, batch_first=True)
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:  # (B, T, E)
        mask = causal_mask(x.shape[1], x.device) if self.causal else None  # (T, T)
        attended = self.self_attn(x, x, x, attn_mask=mask, need_weights=False)[0]  # (B, T, E)
        x = self.norm1(x + self.dropout1(attended))  # (B, T, E)
        hidden = self.dropout(F.relu(self.linear1(x)))  # (B, T, dim_feedforward)
        return self.norm2(x + self.dropout2(self.linear2(hidden)))  # (B, T, E)
