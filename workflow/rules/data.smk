rule fetch_data:
    priority: 20  # everything real starts from these files
    output:
        f"{ROOT}/data/sources/{{benchmark}}.json",
    log:
        f"{ROOT}/logs/fetch_data/{{benchmark}}.log",
    shell:
        mold("fetch-data", "--benchmark {wildcards.benchmark}") + " > {log} 2>&1"


rule prepare_data:
    priority: 10  # cheap and upstream of everything
    input:
        lambda w: plan.dataset_inputs(CFG, w.dataset),
    output:
        f"{ROOT}/data/{{dataset}}.jsonl",
    log:
        f"{ROOT}/logs/prepare_data/{{dataset}}.log",
    shell:
        mold("prepare-data", "--dataset {wildcards.dataset}") + " > {log} 2>&1"


rule train_tokenizer:
    priority: 10  # cheap; teachers wait for theirs
    input:
        plan.train_datasets(CFG),
    output:
        f"{ROOT}/tokenizers/{{model}}/tokenizer.json",
    log:
        f"{ROOT}/logs/train_tokenizer/{{model}}.log",
    shell:
        mold("train-tokenizer", "--model {wildcards.model}") + " > {log} 2>&1"
