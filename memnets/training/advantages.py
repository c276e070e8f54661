"""Returns and generalised advantage estimates of a batch of finished episodes, as pure functions
(Schulman et al. 2016, "High-dimensional continuous control using generalized advantage
estimation", ICLR 2016; used by actor-critic training, ``memnets.training.actor_critic``).

Episodes are rows of right-padded (B, T) tensors: ``valid`` marks the steps taken, a prefix of
each row; every episode ends at its last valid step (nothing is bootstrapped past it: a
mini-SHRDLU episode really ends when its goal is met or its moves are spent).
"""

from __future__ import annotations

import torch
from torch import Tensor


def discounted_returns(rewards: Tensor, valid: Tensor, gamma: float) -> Tensor:
    """(B, T) R_t = sum_k gamma^k r_{t+k} over the rest of each episode; 0 on padding."""
    rewards = rewards * valid
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])  # (B,)
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running * valid[:, t]
        out[:, t] = running
    return out


def gae(rewards: Tensor, values: Tensor, valid: Tensor, gamma: float, lam: float) -> Tensor:
    """(B, T) advantages A_t = sum_k (gamma lam)^k delta_{t+k}, delta_t = r_t + gamma V_{t+1} -
    V_t with V = 0 after an episode's last step; 0 on padding. ``lam`` = 1 gives the discounted
    return minus V_t, ``lam`` = 0 the one-step TD error."""
    if not 0.0 <= lam <= 1.0 or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma={gamma}, lambda={lam}: both must lie in [0, 1]")
    mask = valid.to(values.dtype)
    values = values * mask
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)  # (B, T)
    next_mask = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    deltas = (rewards + gamma * next_values * next_mask - values) * mask  # (B, T)
    out = torch.zeros_like(deltas)
    running = torch.zeros_like(deltas[:, 0])  # (B,)
    for t in reversed(range(deltas.shape[1])):
        running = deltas[:, t] + gamma * lam * running * next_mask[:, t]
        out[:, t] = running
    return out
