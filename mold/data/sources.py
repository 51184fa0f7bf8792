"""Where every benchmark file comes from: repository, pinned commit, path and sha256 (docs/data.md).

A file's place in the data folder (`local`) is the layout the loaders read; its upstream address is
`<host>/<owner>/<repo>/<commit>/<path>`, the form of GitHub's raw file URLs, which a mirror repeats.
The sha256 values were computed from byte-identical copies of the upstream files (their git blob ids
match the ones recorded in docs/data.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

GITHUB_RAW = "https://raw.githubusercontent.com"  # the one upstream host


@dataclass(frozen=True)
class Repo:
    name: str  # owner/repo on GitHub
    commit: str
    licence: str


@dataclass(frozen=True)
class Upstream:
    repo: Repo
    path: str

    @property
    def address(self) -> str:
        """Path below a host or mirror: `<owner>/<repo>/<commit>/<path>`."""
        return f"{self.repo.name}/{self.repo.commit}/{self.path}"


@dataclass(frozen=True)
class DataFile:
    """A file copied byte for byte from `upstream`."""

    local: str
    upstream: Upstream
    sha256: str
    size: int


@dataclass(frozen=True)
class DerivedFile:
    """A file built from several upstream files by `build` (their bytes -> this file's bytes); the
    sha256 of the result is what is checked, so the inputs are verified through it."""

    local: str
    inputs: tuple[Upstream, ...]
    build: Callable[[list[bytes]], bytes]
    sha256: str
    size: int


SVAMP = Repo("arkilpatel/SVAMP", "689d7ccac74b9983a2ac7cc3b264f441b99e7c53", "MIT")
# The Distilling step-by-step splits and PaLM rationales: google-research/distilling-step-by-step ships
# them in datasets.zip; this fork holds the same zip (same git blob) and its extracted files.
DSS = Repo("maxh119Z/distilling-step-by-step1", "5b76a471c46c61f45114eab6621ffdff12d676b6", "Apache-2.0")
ZERO_SHOT_COT = Repo("kojima-takeshi188/zero_shot_cot", "5ef330fcdeec0cd26aee27943504f91f8ec1c33c", "none stated")
ASDIV = Repo("chaochun/nlu-asdiv-dataset", "883f90a9a65bf00304ba8f37423910fe743abc47", "CC-BY-NC-4.0")
GSM8K = Repo("openai/grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c", "MIT")

ASDIV_SUBSETS, ASDIV_FOLDS = ("asdiv-a", "asdiv-w"), 5


def fold_lists_json(texts: list[bytes]) -> bytes:
    """ASDiv's `dataset/nfolds/<subset>/fold<k>.txt` (one problem id per line) as one JSON object
    `{subset: {fold<k>: [ids]}}`, the form the loader reads (`json.dumps(..., indent=1)`)."""
    lists = iter(texts)
    folds = {
        subset: {f"fold{k}": [line.strip() for line in next(lists).decode("utf-8").splitlines() if line.strip()]
                 for k in range(ASDIV_FOLDS)}
        for subset in ASDIV_SUBSETS
    }
    return json.dumps(folds, indent=1).encode("utf-8")


def _file(local: str, repo: Repo, path: str, sha256: str, size: int) -> DataFile:
    return DataFile(local, Upstream(repo, path), sha256, size)


def _dss_llm(dataset: str, upstream_dir: str, names: dict[str, tuple[str, int]]) -> list[DataFile]:
    return [_file(f"{dataset}/dss/llm/{name}", DSS, f"datasets/{upstream_dir}/llm/{name}", sha, size)
            for name, (sha, size) in names.items()]


# benchmark name (config `RealDatasetSpec.name`) -> every file its loaders and the PaLM rationales read
SOURCES: dict[str, list[DataFile | DerivedFile]] = {
    "svamp": [
        _file("svamp/SVAMP.json", SVAMP, "SVAMP.json",
              "5be77703a6d891ae476d7c082787ad361392aa02453b132516cdd5f4e7934e3e", 339970),
        _file("svamp/dss/svamp_train.json", DSS, "datasets/svamp/svamp_train.json",
              "641fc0f69864e1376fc2e29675affd15fa641f3b40279dcd6a595f3780f4e721", 163561),
        _file("svamp/dss/svamp_test.json", DSS, "datasets/svamp/svamp_test.json",
              "b73cba2c53b1e9b1c8aa512a8928c12d0524d1acba560f8c526756185044054c", 41338),
        *_dss_llm("svamp", "svamp", {
            "train_CoT_0.json": ("9aa813b5653131e53bfe0477fa2cb3f90fb3d1b7a5226433218cb7b85998f094", 205881),
            "train_CoT_1.json": ("db0131252436d0487ff8642d94abad23636c080258da60097d5c6f15b1e32639", 122946),
            "test_CoT_0.json": ("fd536719c09b0cc97bfeee5775b212f8e4541ffe012bcd99c893a99e7e46df37", 82516),
        }),
    ],
    "singleeq": [
        _file("singleeq/questions.json", ZERO_SHOT_COT, "dataset/SingleEq/questions.json",
              "051507bd2b489c257057b485774a83d2710c23a4bc0f4a58e1822ae2773ef05e", 137870),
    ],
    "asdiv": [
        _file("asdiv/ASDiv.xml", ASDIV, "dataset/ASDiv.xml",
              "ef8904068482919ac48c8eeaaf6df344b8a308ba66d048c2d4d87eab82dc4929", 947401),
        DerivedFile("asdiv/nfolds_ids.json",
                    tuple(Upstream(ASDIV, f"dataset/nfolds/{subset}/fold{k}.txt")
                          for subset in ASDIV_SUBSETS for k in range(ASDIV_FOLDS)),
                    fold_lists_json, "a2658f8882f203aa2058eaf59cce3edbc25f77232b8a08b58dc7f609cfe14eb0", 60097),
    ],
    "gsm8k": [
        _file("gsm8k/train.jsonl", GSM8K, "grade_school_math/data/train.jsonl",
              "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465", 4166206),
        _file("gsm8k/test.jsonl", GSM8K, "grade_school_math/data/test.jsonl",
              "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14", 749738),
    ],
    "csqa": [
        _file("csqa/train_rand_split.jsonl", ZERO_SHOT_COT, "dataset/CommonsenseQA/train_rand_split.jsonl",
              "58ffa3c8472410e24b8c43f423d89c8a003d8284698a6ed7874355dedd09a2fb", 3785890),
        _file("csqa/dev_rand_split.jsonl", ZERO_SHOT_COT, "dataset/CommonsenseQA/dev_rand_split.jsonl",
              "3210497fdaae614ac085d9eb873dd7f4d49b6f965a93adadc803e1229fd8a02a", 471653),
        _file("csqa/dss/cqa_train.json", DSS, "datasets/cqa/cqa_train.json",
              "09601f7b3239eb4c0a3be16c4b897d0c30905e9bc38cf36c77831d98bd37d9fb", 3443547),
        _file("csqa/dss/cqa_test.json", DSS, "datasets/cqa/cqa_test.json",
              "caf4f47b8afac62a80f0517e1af3eba2af11de0c7c6f3baf3742fb6390d99dfb", 422767),
        *_dss_llm("csqa", "cqa", {
            "train_CoT_0.json": ("632167edcb645336a0ff1194fe87a1821fefdb02515679d178b167619903fff1", 478929),
            "train_CoT_1.json": ("8d14f619696c2bf3f0989d3a47ee8120f047af4eddaf23eb64610941cb453796", 479710),
            "train_CoT_2.json": ("25e559368c7e69dba359245395463a669f2fcef91a3b7b89613ff41bed0fbd8f", 482479),
            "train_CoT_3.json": ("db2a50477c463dd84a4b7ee2dedae323ff8746f20ca0c4a4619c03e04140ddf5", 480766),
            "train_CoT_4.json": ("52ccbf961db874a47968599f8411372a39f280f91413df7d90bcbcea291b9836", 479459),
            "train_CoT_5.json": ("0d238b1c5c4be3630bf14c15a176985b4a2e7bcf5fa5a93d24e9d89ccde06974", 480749),
            "train_CoT_6.json": ("af81b051cefa61be0b513f9e002b9eeab7160c18731732b59138fede91fccee4", 482082),
            "train_CoT_7.json": ("0cd6eba4d2449fb295d66e3dd9998ab59f6246820ca07e0fd1cc61dfcc3e6b3d", 477210),
            "train_CoT_8.json": ("02c156f92540f7b2469d252c814a2a87dad47616f828db3e7e236edd72f21b61", 471556),
            "train_CoT_9.json": ("7448c4cd5a9416ccb1e0c021e2b3bf2e697dc70173ff6f08d5b64b56d5fe8038", 352538),
            "test_CoT_0.json": ("02860e4fa44b4c1f08ed29513abf74f433345e534c51418448b40869ed752a01", 480252),
            "test_CoT_1.json": ("44f1fc36088d5beed937c204ae43ca09d74fd0ea6a784fa89207b7e88c37fb15", 104190),
        }),
    ],
}
