"""A GRU over a whole sequence as one autograd node, its backward through time written out (issue 23).

torch.gru on the CPU has no fused kernel for training: it records each step's gate operations for autograd, and
measured slower than the gate-level cell's own compiled steps. A cell recognised as torch's GRU cell
(torch_cells.py) runs here instead: the x projections of all steps as one matmul, then per step one addmm of h and
six element-wise calls with no autograd recording; the backward walks the steps back once with the gate values
kept from the forward, and forms the weight gradients as one matmul each over all the steps.

Per step (torch's gates r, z, n; gx = W_ih x + b_ih, gh = W_hh h + b_hh, both [r | z | n] by columns):
    r, z = sigmoid(gx_rz + gh_rz);  n = tanh(gx_n + r * gh_n);  h' = n + z * (h - n)   (= (1 - z) * n + z * h)
Backward, with dh the gradient reaching h':
    dn_pre = dh * (1 - z) * (1 - n^2);  dz_pre = dh * (h - n) * z (1 - z);  dr_pre = dn_pre * gh_n * r (1 - r)
    dgh = [dr_pre | dz_pre | dn_pre * r];  dgx = [dr_pre | dz_pre | dn_pre];  dh_prev = dh * z + dgh W_hh
The result equals the cell's (1 - z) * n + z * h to float rounding. A second derivative (create_graph) is refused.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class GRUSequence(torch.autograd.Function):
    """gru_sequence's node: forward (x, weights, reverse) -> h of every step (B, T, H), in step order."""

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, reverse: bool) -> Tensor:
        batch, steps, _ = x.shape
        hidden = w_hh.size(1)
        gx = torch.addmm(b_ih, x.reshape(batch * steps, -1), w_ih.t()).view(batch, steps, 3 * hidden)
        gx = _in_step_order(gx.transpose(0, 1), reverse)  # (T, B, 3H), the first step processed first
        gx_rz, gx_n = (part.unbind(0) for part in gx.split([2 * hidden, hidden], 2))
        w_hh_t, sizes = w_hh.t(), [2 * hidden, hidden]
        h = x.new_zeros(batch, hidden)
        kept = {"h": [], "rz": [], "n": [], "gh_n": []}  # per step, in the order processed
        for k in range(steps):
            gh_rz, gh_n = torch.addmm(b_hh, h, w_hh_t).split_with_sizes(sizes, 1)  # no Python wrapper
            rz = torch.add(gx_rz[k], gh_rz).sigmoid_()
            r, z = rz.chunk(2, 1)
            n = torch.addcmul(gx_n[k], r, gh_n).tanh_()
            for name, value in (("h", h), ("rz", rz), ("n", n), ("gh_n", gh_n)):
                kept[name].append(value)
            h = torch.addcmul(n, z, h - n)
        kept["h"].append(h)
        states = torch.stack(kept["h"])  # (T + 1, B, H): the zero state, then each step's h
        ctx.save_for_backward(x, w_ih, w_hh, states, *(torch.stack(kept[k]) for k in ("rz", "n", "gh_n")))
        ctx.reverse = reverse
        return _in_step_order(states[1:], reverse).transpose(0, 1).contiguous()  # (B, T, H)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple:
        x, w_ih, w_hh, states, rz, n, gh_n = ctx.saved_tensors
        hidden, steps = w_hh.size(1), x.size(1)
        grads = _in_step_order(grad_out.transpose(0, 1), ctx.reverse).unbind(0)  # (T) x (B, H), order processed
        r, z = rz.chunk(2, 2)
        # the factors of each step that do not depend on dh, for all steps at once
        to_n = ((1 - z) * (1 - n * n)).unbind(0)
        to_z = ((states[:-1] - n) * z * (1 - z)).unbind(0)
        to_r = (gh_n * r * (1 - r)).unbind(0)
        r_steps, z_steps = r.unbind(0), z.unbind(0)
        dgh, dn_pre = [None] * steps, [None] * steps
        dh = torch.zeros_like(grads[0])
        for k in range(steps - 1, -1, -1):
            dh = dh + grads[k]
            dn = dh * to_n[k]
            dgh[k] = torch.cat([dn * to_r[k], dh * to_z[k], dn * r_steps[k]], 1)
            dn_pre[k] = dn
            dh = torch.addmm(dh * z_steps[k], dgh[k], w_hh)
        dgh = torch.stack(dgh)  # (T, B, 3H)
        dgx = torch.cat([dgh[..., : 2 * hidden], torch.stack(dn_pre)], 2)
        return _weight_grads(ctx, x, w_ih, states, dgh, dgx)


def _weight_grads(ctx, x: Tensor, w_ih: Tensor, states: Tensor, dgh: Tensor, dgx: Tensor) -> tuple:
    """(dx, dW_ih, dW_hh, db_ih, db_hh, None) from the per-step gradients of gx and gh, each one matmul or sum."""
    batch, steps, features = x.shape
    dgh_rows = dgh.reshape(-1, dgh.size(2))  # (T * B, 3H)
    dw_hh = dgh_rows.t().mm(states[:-1].reshape(-1, states.size(2)))  # each step's gh read the h before it
    dgx_rows = _in_step_order(dgx, ctx.reverse).transpose(0, 1).reshape(batch * steps, -1)  # x's order (B, T)
    dx = dgx_rows.mm(w_ih).view(batch, steps, features) if ctx.needs_input_grad[0] else None
    dw_ih = dgx_rows.t().mm(x.reshape(batch * steps, features))
    return dx, dw_ih, dw_hh, dgx_rows.sum(0), dgh_rows.sum(0), None


def _in_step_order(sequence: Tensor, reverse: bool) -> Tensor:
    """(T, ...) in the order the steps run (the last time step first when reverse), and back: its own inverse."""
    return sequence.flip(0) if reverse else sequence


def gru_sequence(x: Tensor, weights: list[Tensor], reverse: bool) -> Tensor:
    """h after every step (B, T, H), from a zero state, of the GRU whose weights are torch's [weight_ih,
    weight_hh, bias_ih, bias_hh] (reading the steps from the last one back when `reverse`)."""
    w_ih, w_hh, b_ih, b_hh = weights
    return GRUSequence.apply(x, w_ih, w_hh, b_ih, b_hh, reverse)
