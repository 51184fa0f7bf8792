rule extract_attention_targets:
    input:
        lambda w: plan.attention_inputs(CFG, w.teacher, w.source, w.task),
    output:
        f"{ROOT}/attention/{{teacher}}/{{source}}/{{task}}.index.json",
    log:
        f"{ROOT}/logs/extract_attention_targets/{{teacher}}/{{source}}/{{task}}.log",
    benchmark:
        f"{ROOT}/benchmarks/extract_attention_targets/{{teacher}}/{{source}}/{{task}}.tsv"
    threads: THREADS
    priority: 5
    resources:
        gpu=lambda w: plan.model_gpus(CFG, w.teacher),
    shell:
        mold_gpu("extract-attention-targets", "--teacher {wildcards.teacher} --source {wildcards.source} --task {wildcards.task}") + " > {log} 2>&1"
