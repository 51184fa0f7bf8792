rule extract_attention_targets:
    input:
        lambda w: plan.attention_inputs(CFG, w.pair, w.task),
    output:
        f"{ROOT}/attention/{{pair}}/{{task}}/index.json",
    log:
        f"{ROOT}/logs/extract_attention_targets/{{pair}}/{{task}}.log",
    benchmark:
        f"{ROOT}/benchmarks/extract_attention_targets/{{pair}}/{{task}}.tsv"
    threads: THREADS
    resources:
        gpu=1,
    shell:
        "MOLD_THREADS={threads} " + mold("extract-attention", "--pair {wildcards.pair} --task {wildcards.task}") + " > {log} 2>&1"
