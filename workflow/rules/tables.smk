rule make_tables:
    input:
        paths.all_eval_files(CFG),
    output:
        plan.final_targets(CFG),
    log:
        f"{ROOT}/logs/make_tables.log",
    shell:
        mold("make-tables") + " > {log} 2>&1"
