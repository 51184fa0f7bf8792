rule pretrain_teacher:
    input:
        lambda w: [plan.tokenizer_file(CFG, w.model), *plan.train_datasets(CFG)],
    output:
        f"{ROOT}/teachers/{{model}}/train_log.json",
    log:
        f"{ROOT}/logs/pretrain_teacher/{{model}}.log",
    benchmark:
        f"{ROOT}/benchmarks/pretrain_teacher/{{model}}.tsv"
    threads: THREADS
    priority: 10  # the critical path: starts first (a 2-thread job would wait for both cores to be free at once)
    resources:
        gpu=1,
    shell:
        mold_gpu("pretrain-teacher", "--model {wildcards.model}") + " > {log} 2>&1"


rule generate_rationales:
    input:
        lambda w: plan.rationale_inputs(CFG, w.source, w.task),
    output:
        rationales=f"{ROOT}/rationales/{{source}}/{{task}}.jsonl",
        summary=f"{ROOT}/rationales/{{source}}/{{task}}.summary.json",
    log:
        f"{ROOT}/logs/generate_rationales/{{source}}/{{task}}.log",
    benchmark:
        f"{ROOT}/benchmarks/generate_rationales/{{source}}/{{task}}.tsv"
    threads: THREADS
    priority: 5
    resources:
        gpu=lambda w: plan.model_gpus(CFG, w.source),  # the 32B teacher: by its size and gpu_memory_gb
    shell:
        mold_gpu("generate-rationales", "--source {wildcards.source} --task {wildcards.task}") + " > {log} 2>&1"
