"""PyTorch twin of nl2py's default model, to compare training speed on one machine.

Same architecture as `src/model/` (pre-norm Transformer encoder-decoder, d_model 256, 8 heads,
3+3 layers, d_ff 512, learned positions, tied decoder embeddings, vocab 5000) and the same batch
as `nl2py bench` (32 × 40 tokens, label smoothing 0.1, AdamW). Not part of CI:

    python3 -m venv ../torchenv && ../torchenv/bin/pip install torch
    ../torchenv/bin/python bench/torch_bench.py          # then: nl2py bench
"""
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

D, HEADS, LAYERS, FF, VOCAB, BATCH, LENGTH, STEPS = 256, 8, 3, 512, 5000, 32, 40, 5


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))

    def forward(self, x, source, mask=None):
        b, t, _ = x.shape
        split = lambda y: y.view(b, -1, HEADS, D // HEADS).transpose(1, 2)  # (B, h, T, d)
        q, k, v = split(self.q(x)), split(self.k(source)), split(self.v(source))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        if mask is not None:
            scores = scores.masked_fill(mask, -1e4)
        return self.o((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D))


class Block(nn.Module):
    def __init__(self, cross):
        super().__init__()
        self.attn, self.n1 = Attention(), nn.LayerNorm(D)
        self.cross = Attention() if cross else None
        self.n2 = nn.LayerNorm(D) if cross else None
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))
        self.n3 = nn.LayerNorm(D)

    def forward(self, x, memory=None, mask=None):
        h = self.n1(x)
        x = x + self.attn(h, h, mask)
        if self.cross is not None:
            x = x + self.cross(self.n2(x), memory)
        return x + self.ff(self.n3(x))


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src, self.tgt = nn.Embedding(VOCAB, D), nn.Embedding(VOCAB, D)
        self.src_pos, self.tgt_pos = nn.Embedding(128, D), nn.Embedding(256, D)
        self.enc = nn.ModuleList(Block(False) for _ in range(LAYERS))
        self.dec = nn.ModuleList(Block(True) for _ in range(LAYERS))
        self.enc_norm, self.dec_norm = nn.LayerNorm(D), nn.LayerNorm(D)

    def encode(self, src):
        x = self.src(src) * math.sqrt(D) + self.src_pos(torch.arange(src.shape[1]))
        for block in self.enc:
            x = block(x)
        return self.enc_norm(x)

    def forward(self, src, tgt):
        memory = self.encode(src)
        t = tgt.shape[1]
        x = self.tgt(tgt) * math.sqrt(D) + self.tgt_pos(torch.arange(t))
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        for block in self.dec:
            x = block(x, memory, causal)
        return self.dec_norm(x) @ self.tgt.weight.T


def timed(fn):
    times = []
    for _ in range(STEPS + 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[STEPS // 2] * 1e3


def main():
    torch.manual_seed(0)
    model = Seq2Seq()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    src = torch.randint(4, VOCAB, (BATCH, LENGTH))
    tgt = torch.randint(4, VOCAB, (BATCH, LENGTH))

    def train_step():
        logits = model(src, tgt)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1), label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def encoder_step():
        model.encode(src).sum().backward()

    step = timed(train_step)
    report = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "params": sum(p.numel() for p in model.parameters()),
        "train_step_ms": step,
        "train_target_tokens_per_s": BATCH * LENGTH / (step / 1e3),
        "encoder_forward_backward_ms": timed(encoder_step),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
