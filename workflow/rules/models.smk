rule fetch_model:
    priority: 10  # upstream of every stage that loads the model; the one rule that needs the network
    output:
        f"{ROOT}/models/{{model}}.json",
    log:
        f"{ROOT}/logs/fetch_model/{{model}}.log",
    shell:
        mold("fetch-model", "--model {wildcards.model}") + " > {log} 2>&1"
