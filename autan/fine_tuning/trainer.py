"""The trainer process: ``python -m autan.fine_tuning.trainer <run_dir>``.

Reads ``config.json`` from the run directory, trains a LoRA on the base GGUF's dequantized
weights (torch + transformers + peft, AdamW, linear warm-up then cosine decay to a tenth of the
peak rate, loss on the assistant's tokens only), and appends its progress to ``progress.jsonl``:

    {"type": "started", "base_valid_loss": 2.9, "total_steps": 20, "examples": 40,
     "data_tokens": 2040}
    {"type": "checkpoint", "step": 5, "train_loss": 2.1, "valid_loss": 1.9,
     "valid_mean_token_accuracy": 0.61, "trained_tokens": 1100}
    {"type": "done", "adapter": "adapter.gguf", "trained_tokens": 4400}
    {"type": "failed", "error": "..."}

At every checkpoint it also saves the LoRA weights and the optimizer (``state.pt``); started
again on the same run directory, it resumes from there. It runs in its own process so that the
server only ever sees a file and an exit code: cancelling a job is killing this process.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import random
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from autan.fine_tuning.chat_examples import IGNORE, ChatExample, ChatExamples
from autan.fine_tuning.dataset import Dataset
from autan.fine_tuning.dequantized_model import DequantizedModel
from autan.fine_tuning.lora_adapter import LoraAdapter
from autan.fine_tuning.run_dir_lock import RunDirBusy, RunDirLock
from autan.fine_tuning.training_config import (
    ADAPTER_FILE,
    PARENT_PID_ENV,
    PROGRESS_FILE,
    STATE_FILE,
    TrainingConfig,
)

log = logging.getLogger("autan.trainer")
LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
# Exit codes: another trainer owns the run directory; the server died as the trainer started.
EXIT_RUN_DIR_BUSY = 75
EXIT_ORPHANED = 76
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Progress:
    """Appends one JSON object per line; the server tails the file."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def write(self, kind: str, **fields: Any) -> None:
        with self._path.open("a") as f:
            f.write(json.dumps({"type": kind, "time": time.time(), **fields}) + "\n")


class WeightedSampler:
    """Picks examples file by file in proportion to the files' weights, each file's examples
    in a reshuffled cycle; deterministic from the seed, so a resumed run replays the same order."""

    def __init__(self, files: list[list[ChatExample]], weights: list[float], seed: int) -> None:
        self._files = files
        self._weights = weights
        self._rng = random.Random(seed)
        self._orders: list[list[int]] = [[] for _ in files]

    def take(self, n: int) -> list[ChatExample]:
        out = []
        for _ in range(n):
            f = self._rng.choices(range(len(self._files)), weights=self._weights)[0]
            if not self._orders[f]:
                self._orders[f] = list(range(len(self._files[f])))
                self._rng.shuffle(self._orders[f])
            out.append(self._files[f][self._orders[f].pop()])
        return out


class Trainer:
    def __init__(self, config: TrainingConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        self.progress = Progress(run_dir / PROGRESS_FILE)

    def _read(self, path: Path) -> Dataset:
        return Dataset.read(path, skip_fraction=self.config.skip_fraction)

    def _encode(self, encoder: ChatExamples, dataset: Dataset) -> list[ChatExample]:
        examples = [encoder.encode(c) for c in dataset.conversations]
        kept = [e for e in examples if e.trained_tokens > 0]
        if not kept:
            raise ValueError(
                f"no example keeps an assistant token within seq_len={encoder.seq_len}"
            )
        return kept

    def run(self) -> None:
        config = self.config
        # Read the data before the slow imports, so a bad file fails in a blink.
        train_data = [self._read(f.path) for f in config.training_files]
        valid_data = [self._read(p) for p in config.validation_files]

        import torch
        from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        base = DequantizedModel.load(config.base_gguf, config.cache_dir)
        encoder = ChatExamples(base.tokenizer, config.seq_len)
        files = [self._encode(encoder, d) for d in train_data]
        valid = [e for d in valid_data for e in self._encode(encoder, d)]
        pad_id = base.tokenizer.pad_token_id
        pad_id = base.tokenizer.eos_token_id if pad_id is None else pad_id

        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=0.0,
            target_modules=LORA_MODULES,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base.model, lora)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=config.learning_rate, weight_decay=config.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._rate)
        sampler = WeightedSampler(files, [f.weight for f in config.training_files], config.seed)

        step, trained_tokens = 0, 0
        state_path = self.run_dir / STATE_FILE
        if state_path.is_file():
            from peft import set_peft_model_state_dict

            state = torch.load(state_path, weights_only=False)
            set_peft_model_state_dict(model, state["lora"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            step, trained_tokens = state["step"], state["trained_tokens"]
            sampler.take(step * config.batch_size)  # replay the order up to the checkpoint
            self.progress.write("resumed", step=step)
        else:
            # The base model's score on the validation data: what the checkpoints improve on.
            before = self._evaluate(model, encoder, valid, pad_id) if valid else {}
            self.progress.write(
                "started",
                base_valid_loss=before.get("valid_loss"),
                total_steps=config.training_steps,
                examples=sum(len(f) for f in files),
                data_tokens=sum(len(e.ids) for f in files for e in f),
            )

        losses: list[float] = []
        model.train()
        while step < config.training_steps:
            ids, mask, labels = encoder.batch(sampler.take(config.batch_size), pad_id)
            # bf16 autocast pays only where the CPU has fast bf16 kernels (off by default).
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            trained_tokens += int(mask.sum())
            losses.append(float(loss.detach()))
            if step % config.checkpoint_every == 0 or step == config.training_steps:
                metrics = self._evaluate(model, encoder, valid, pad_id) if valid else {}
                model.train()
                torch.save(
                    {
                        "lora": get_peft_model_state_dict(model),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "step": step,
                        "trained_tokens": trained_tokens,
                    },
                    state_path.with_suffix(".tmp"),
                )
                state_path.with_suffix(".tmp").replace(state_path)
                self.progress.write(
                    "checkpoint",
                    step=step,
                    train_loss=sum(losses) / len(losses),
                    trained_tokens=trained_tokens,
                    **metrics,
                )
                losses = []

        lora_state = {
            k: v.detach().float().numpy() for k, v in get_peft_model_state_dict(model).items()
        }
        hf = base.model.config
        LoraAdapter.from_peft(
            lora_state,
            alpha=config.lora_alpha,
            n_head=hf.num_attention_heads,
            n_head_kv=hf.num_key_value_heads,
        ).write(self.run_dir / ADAPTER_FILE)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # Linux: KiB
        self.progress.write(
            "done", adapter=ADAPTER_FILE, trained_tokens=trained_tokens, peak_rss_mib=peak_mib
        )

    def _rate(self, step: int) -> float:
        """Multiplier of the peak rate: linear warm-up, then cosine down to 0.1."""
        total = self.config.training_steps
        warmup = int(self.config.warmup_fraction * total)
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def _evaluate(
        self, model: Any, encoder: ChatExamples, examples: list[ChatExample], pad_id: int
    ) -> dict[str, float]:
        """Loss and next-token accuracy on the assistant tokens of the validation examples."""
        import torch

        model.eval()
        loss_sum, right, total = 0.0, 0, 0
        with torch.no_grad():
            for i in range(0, len(examples), self.config.batch_size):
                ids, mask, labels = encoder.batch(examples[i : i + self.config.batch_size], pad_id)
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                target = labels[:, 1:]
                scored = target != IGNORE
                loss_sum += float(
                    torch.nn.functional.cross_entropy(
                        logits[scored], target[scored], reduction="sum"
                    )
                )
                right += int((logits.argmax(-1)[scored] == target[scored]).sum())
                total += int(scored.sum())
        return {"valid_loss": loss_sum / total, "valid_mean_token_accuracy": right / total}


def die_with_parent() -> bool:
    """Have Linux SIGKILL this process when the server that started it dies, ``kill -9``
    included, so that no trainer outlives its server and races the next one on the same run
    directory. False when the server is gone already (it died before this took effect)."""
    parent = os.environ.get(PARENT_PID_ENV)
    if parent is None or not sys.platform.startswith("linux"):
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    return os.getppid() == int(parent)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(argv) != 1:
        print("usage: python -m autan.fine_tuning.trainer RUN_DIR", file=sys.stderr)
        return 2
    if not die_with_parent():
        log.error("the server that started this trainer is gone; not training")
        return EXIT_ORPHANED
    run_dir = Path(argv[0])
    lock = RunDirLock(run_dir)
    try:
        lock.acquire()
    except RunDirBusy as e:
        log.error("not training: %s", e)
        return EXIT_RUN_DIR_BUSY
    try:
        trainer = Trainer(TrainingConfig.read(run_dir), run_dir)
        try:
            trainer.run()
        except Exception as e:  # the process's edge: the reason goes to the job, then exit
            log.exception("training failed")
            trainer.progress.write("failed", error=f"{type(e).__name__}: {e}")
            return 1
        return 0
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
