rule evaluate_student:
    input:
        lambda w: plan.evaluate_inputs(CFG, w.pair, w.task, w.method, int(w.seed)),
    output:
        f"{ROOT}/eval/{{pair}}/{{task}}/{{method}}/seed{{seed}}.json",
    params:
        method=lambda w: plan.method_from_slug(CFG, w.pair, w.method),
    log:
        f"{ROOT}/logs/evaluate_student/{{pair}}/{{task}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{ROOT}/benchmarks/evaluate_student/{{pair}}/{{task}}/{{method}}/seed{{seed}}.tsv"
    threads: THREADS
    resources:
        gpu=1,
    shell:
        mold_gpu("evaluate-student", "--pair {wildcards.pair} --task {wildcards.task} --method '{params.method}' --seed {wildcards.seed}") + " > {log} 2>&1"
