"""Stage `pretrain_teacher` (offline presets): train a tiny teacher from scratch before it writes rationales."""

from __future__ import annotations

from mold import paths
from mold.config import ExperimentConfig
from mold.io import atomic_dir, write_json_atomic
from mold.models.factory import build_tiny_model, default_device
from mold.models.tokenizers import load_tokenizer
from mold.provenance import provenance
from mold.teacher import pretrain
from mold.training.loop import clear_checkpoints, train


def run(cfg: ExperimentConfig, model: str) -> None:
    spec = cfg.models[model]
    if spec.pretrain is None:
        raise ValueError(f"models.{model} has no pretrain section")
    tokenizer = load_tokenizer(spec, paths.tokenizer_dir(cfg, model))
    teacher = build_tiny_model(spec, tokenizer, seed=spec.pretrain.seed).to(default_device())
    corpora = [pretrain.TeacherCorpus(cfg.tasks[t].answer_kind, pretrain.pretraining_examples(cfg, t, spec.pretrain.rationales))
               for t in pretrain.tasks_taught_by(cfg, model)]
    training = pretrain.pretrain_spec_as_training(spec.pretrain)
    out_dir = paths.pretrained_teacher_dir(cfg, model)
    work_dir = out_dir.with_name(out_dir.name + ".work")
    history = train(teacher, training, work_dir, spec.pretrain.seed,
                    pretrain.make_batch_fn(corpora, tokenizer, spec.pretrain, cfg.generation, training.max_length,
                                            default_device()),
                    pretrain.PretrainLoss(teacher), description=f"pretrain teacher {model}")
    with atomic_dir(out_dir) as tmp:
        teacher.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        write_json_atomic(tmp / "train_log.json", {"history": history, "provenance": provenance(cfg, seed=spec.pretrain.seed)})
    clear_checkpoints(work_dir)
