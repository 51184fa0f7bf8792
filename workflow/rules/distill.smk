rule distill_student:
    input:
        lambda w: plan.distill_inputs(CFG, w.pair, w.task, w.method),
    output:
        f"{ROOT}/runs/{{pair}}/{{task}}/{{method}}/seed{{seed}}/train_log.json",
    params:
        method=lambda w: plan.method_from_slug(CFG, w.pair, w.method),
    log:
        f"{ROOT}/logs/distill_student/{{pair}}/{{task}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{ROOT}/benchmarks/distill_student/{{pair}}/{{task}}/{{method}}/seed{{seed}}.tsv"
    threads: THREADS
    resources:
        gpu=1,
    shell:
        mold_gpu("distill-student", "--pair {wildcards.pair} --task {wildcards.task} --method '{params.method}' --seed {wildcards.seed}") + " > {log} 2>&1"
