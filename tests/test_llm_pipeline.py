"""Generate + annotate + review, end to end against a loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import csv
import gc
import json

import datasets
import pytest

from goemobalance.cli import main
from goemobalance.labels import GOEMOTIONS
from goemobalance.llm import (
    AgreementPolicy,
    DeficitError,
    DuplicateIndex,
    GenerationConfig,
    LLMClient,
    LLMConfig,
    ReviewError,
    export_review,
    generate_and_annotate,
    import_review,
    load_template,
    normalize_text,
    parse_deficits,
    text_id,
    validate_items,
)
from goemobalance.llm.testing import DemoResponder, Fault, OpenAICompatibleServer
from goemobalance.schema import from_records, make_record, validate

DEFICITS = {"labels": {"grief": 6, "pride": 4}, "labelsets": [{"labels": ["sadness", "grief"], "count": 3}]}


def is_generation(request: dict) -> bool:
    return request.get("response_format", {}).get("json_schema", {}).get("name") == "generated_texts" or (
        "Number of texts" in request["messages"][-1]["content"]
    )


def is_annotation(request: dict) -> bool:
    return not is_generation(request)


def mentions(word: str):
    return lambda request: word in request["messages"][-1]["content"]


@pytest.fixture
def server():
    with OpenAICompatibleServer() as srv:
        yield srv


def generate(server, cache, deficits=DEFICITS, *, max_retries=2, pool=None, test_texts=None, **config):
    policy = config.pop("policy", AgreementPolicy())

    async def go():
        settings = LLMConfig(
            model="gen-model", base_url=server.base_url, backoff_base=0.01, max_retries=max_retries
        )
        async with LLMClient(settings, cache) as client:
            result = await generate_and_annotate(
                deficits,
                client,
                config=GenerationConfig(**{"batch_size": 3, **config}),
                policy=policy,
                pool=pool,
                test_texts=test_texts,
                progress=False,
            )
        client.cache.close()
        return result, client.usage

    return asyncio.run(go())


def metas(dataset):
    return [json.loads(m) for m in dataset["meta"]]


def rows_for(dataset, *names):
    wanted = set(GOEMOTIONS.ids(names))
    return [labels for labels in dataset["labels"] if wanted <= set(labels)]


def test_happy_path_fills_deficits_with_provenance(server, tmp_path):
    result, usage = generate(server, tmp_path / "c.sqlite")
    accepted = result.accepted
    validate(accepted)
    assert len(accepted) == 10 and len(result.review) == 0
    assert len(rows_for(accepted, "grief", "sadness")) == 3
    assert len(rows_for(accepted, "grief")) == 6, "the labelset counts toward grief's deficit"
    assert len(rows_for(accepted, "pride")) == 4
    assert set(accepted["source"]) == {"llm"} and set(accepted["label_origin"]) == {"llm"}
    assert list(accepted["id"]) == [text_id(t) for t in accepted["text"]]
    meta = metas(accepted)[0]
    assert meta["generator"]["model"] == "gen-model" and meta["generator"]["template_id"] == "default-v1"
    assert meta["generator"]["temperature"] == 0.9 and isinstance(meta["generator"]["seed"], int)
    assert set(meta["generator"]["axes"]) == {"persona", "topic", "length", "platform"}
    assert meta["annotator"]["model"] == "gen-model" and meta["agreement"]["passed"] is True
    assert all(len(s) == len(GOEMOTIONS) for s in accepted["scores"])
    assert usage.requests == server.request_count == 4 + 10, "3 + 3 + (3 + 1) texts, one annotation each"
    assert result.report["unfilled"] == [] and result.report["rejections"] == {}


def test_rerun_is_served_from_cache_with_zero_requests(server, tmp_path):
    first, _ = generate(server, tmp_path / "c.sqlite")
    sent = server.request_count
    second, usage = generate(server, tmp_path / "c.sqlite")
    assert server.request_count == sent and usage.requests == 0 and usage.cache_hits == sent
    assert second.accepted.to_list() == first.accepted.to_list()


def test_objects_older_than_the_run_are_frozen_only_while_it_runs(tmp_path):
    seen = []
    demo = DemoResponder()

    def responder(request):
        seen.append(gc.get_freeze_count())
        return demo(request)

    with OpenAICompatibleServer(responder) as srv:
        generate(srv, tmp_path / "a.sqlite")
        assert seen and min(seen) > 0, "full collections must not rescan the heap during requests"
        assert gc.get_freeze_count() == 0, "the freeze is undone afterwards"
        gc.freeze()
        try:
            generate(srv, tmp_path / "b.sqlite", seed=3)
            assert gc.get_freeze_count() > 0, "a caller's own freeze is left alone"
        finally:
            gc.unfreeze()


def test_long_running_server_counts_requests_without_keeping_them(tmp_path):
    with OpenAICompatibleServer(keep_requests=False) as srv:
        generate(srv, tmp_path / "c.sqlite")
        assert srv.request_count == 14 and srv.requests == [] and srv.authorizations == []


def test_seed_changes_prompts_and_is_reproducible(server, tmp_path):
    a, _ = generate(server, tmp_path / "a.sqlite", seed=1)
    b, _ = generate(server, tmp_path / "b.sqlite", seed=1)
    c, _ = generate(server, tmp_path / "c.sqlite", seed=2)
    assert list(a.accepted["text"]) == list(b.accepted["text"])
    assert set(a.accepted["text"]).isdisjoint(list(c.accepted["text"]))


def test_partly_failed_batch_is_reported_then_resent_alone(server, tmp_path):
    server.add_fault(
        Fault(
            status=500, match=lambda r: is_generation(r) and "pride" in r["messages"][-1]["content"], times=-1
        )
    )
    first, _ = generate(server, tmp_path / "c.sqlite", max_retries=1, max_rounds=1)
    assert len(first.accepted) == 6
    assert first.report["unfilled"] == [{"labels": ["pride"], "count": 4}]
    assert first.report["rejections"] == {"request_failed": 4}
    failed = first.report["failed_requests"]
    assert [f["intended_labels"] for f in failed] == [["pride"], ["pride"]] and "HTTP 500" in failed[0][
        "error"
    ]
    server.clear()
    second, usage = generate(server, tmp_path / "c.sqlite", max_rounds=1)
    assert usage.requests == server.request_count == 2 + 4, "only the failed batches and their annotations"
    assert len(second.accepted) == 10 and second.report["unfilled"] == []
    assert set(first.accepted["id"]) < set(second.accepted["id"])


def test_unparseable_generation_is_counted_and_refilled_next_round(server, tmp_path):
    server.add_fault(Fault(content="Sorry, I cannot write that.", match=is_generation, times=1))
    result, _ = generate(server, tmp_path / "c.sqlite", {"grief": 3}, max_rounds=2)
    assert result.report["rejections"] == {"unparseable_response": 3}
    assert len(result.accepted) == 3 and result.report["unfilled"] == []
    assert sorted({m["generator"]["round"] for m in metas(result.accepted)}) == [1]


def test_fallback_parser_reads_fenced_single_quoted_output(server, tmp_path):
    content = "Here you go:\n```json\n{'items': [{'text': 'lost my old dog today, the house is so quiet'},]}\n```\nHope it helps"
    server.add_fault(Fault(content=content, match=is_generation))
    result, _ = generate(
        server,
        tmp_path / "c.sqlite",
        {"grief": 1},
        max_rounds=1,
        policy=AgreementPolicy(rule="jaccard", jaccard_threshold=0.0),
    )
    assert list(result.accepted["text"]) + list(result.review["text"]) == [
        "lost my old dog today, the house is so quiet"
    ]


def test_label_names_outside_the_space_are_dropped_and_recorded(server, tmp_path):
    weird = '{"labels": [{"name": "grief", "confidence": 0.9}, {"name": "happiness", "confidence": 0.8}]}'
    server.add_fault(Fault(content=weird, match=is_annotation, times=-1))
    result, _ = generate(server, tmp_path / "c.sqlite", {"grief": 2})
    assert len(result.accepted) == 2
    assert result.report["unknown_labels"] == {"happiness": 2}
    assert all(m["unknown_labels"] == ["happiness"] for m in metas(result.accepted))
    assert all(labels == [GOEMOTIONS.id("grief")] for labels in list(result.accepted["labels"]))


def test_unknown_label_policy_review_sends_rows_to_review(server, tmp_path):
    weird = '{"labels": [{"name": "grief", "confidence": 0.9}, {"name": "happiness", "confidence": 0.8}]}'
    server.add_fault(Fault(content=weird, match=is_annotation, times=-1))
    result, _ = generate(
        server,
        tmp_path / "c.sqlite",
        {"grief": 2},
        max_rounds=1,
        policy=AgreementPolicy(on_unknown_label="review"),
    )
    assert len(result.accepted) == 0 and len(result.review) == 2
    assert result.report["unfilled"] == [{"labels": ["grief"], "count": 2}]


def test_disagreement_goes_to_review_with_both_label_sets(server, tmp_path):
    other = '{"labels": [{"name": "joy", "confidence": 0.95}]}'
    server.add_fault(Fault(content=other, match=is_annotation, times=-1))
    result, _ = generate(server, tmp_path / "c.sqlite", {"grief": 2}, max_rounds=1)
    assert len(result.accepted) == 0 and len(result.review) == 2
    agreement = metas(result.review)[0]["agreement"]
    assert agreement == {
        "rule": "subset",
        "passed": False,
        "jaccard": 0.0,
        "votes": 1,
        "intended": ["grief"],
        "annotated": ["joy"],
    }


def test_annotation_failure_keeps_the_text_for_review(server, tmp_path):
    server.add_fault(Fault(status=500, match=is_annotation, times=-1))
    result, _ = generate(server, tmp_path / "c.sqlite", {"grief": 2}, max_rounds=1, max_retries=0)
    assert len(result.review) == 2 and result.report["annotation_failures"] == 2
    assert all("HTTP 500" in m["annotation_error"] for m in metas(result.review))


def test_k_vote_self_consistency_keeps_majority_labels(server, tmp_path):
    answers = {0: ["grief", "joy"], 1: ["grief"], 2: ["grief", "fear"]}

    def annotate_by_seed(request):
        names = answers[request["seed"] % 3]
        return json.dumps({"labels": [{"name": n, "confidence": 0.9} for n in names]})

    server.responder = lambda r: annotate_by_seed(r) if is_annotation(r) else DemoResponder()(r)
    result, _ = generate(
        server, tmp_path / "c.sqlite", {"grief": 1}, policy=AgreementPolicy(votes=3, rule="exact")
    )
    assert len(result.accepted) == 1
    meta = metas(result.accepted)[0]
    assert meta["agreement"]["votes"] == 3 and meta["agreement"]["annotated"] == ["grief"]
    scores = result.accepted[0]["scores"]
    assert scores[GOEMOTIONS.id("grief")] == pytest.approx(0.9) and scores[
        GOEMOTIONS.id("joy")
    ] == pytest.approx(0.3)


def test_rejections_are_counted_by_reason(server, tmp_path):
    pool_text = "My grandmother passed away this morning and I keep looking at her chair"
    test_text = "Cannot believe we won the final, proudest day of my life"
    items = [
        {"text": "lost my cat of 15 years today, the apartment feels empty"},
        {"text": "Lost my cat of 15 years today... the apartment feels empty!"},
        {"text": "   "},
        {"text": "x" * 1200},
        {"text": pool_text + " honestly"},
        {"text": test_text.upper()},
        {"text": 42},
    ]
    server.add_fault(Fault(content=json.dumps({"items": items}), match=is_generation))
    pool = from_records([make_record(id="p1", text=pool_text, labels=[16], source="goemotions")])
    result, _ = generate(
        server,
        tmp_path / "c.sqlite",
        {"grief": 7},
        batch_size=7,
        max_rounds=1,
        pool=pool,
        test_texts=[test_text],
        policy=AgreementPolicy(rule="jaccard", jaccard_threshold=0),
    )
    assert result.report["rejections"] == {
        "empty": 1,
        "exact_duplicate_batch": 1,
        "exact_duplicate_test": 1,
        "invalid_item": 1,
        "near_duplicate_pool": 1,
        "too_long": 1,
    }
    assert len(result.accepted) + len(result.review) == 1


def test_nothing_generated_duplicates_the_real_goemotions_test_split(server, tmp_path, goemotions_test):
    leaked = goemotions_test[0]["text"]
    server.add_fault(
        Fault(
            content=json.dumps({"items": [{"text": leaked}, {"text": leaked + " lol"}]}), match=is_generation
        )
    )
    result, _ = generate(
        server, tmp_path / "c.sqlite", {"grief": 2}, batch_size=2, max_rounds=1, test_texts=goemotions_test
    )
    assert result.report["rejections"]["exact_duplicate_test"] == 1
    assert sum(result.report["rejections"].values()) == 2


def test_validate_items_reasons():
    items = [
        {"text": "fine text"},
        {"text": ""},
        {"text": "ok"},
        {"text": "a" * 50},
        "also fine",
        "third",
        "fourth",
    ]
    texts, rejected = validate_items(json.dumps({"items": items}), expected=3, max_chars=20, min_chars=3)
    assert texts == ["fine text", "also fine", "third"]
    assert dict(rejected) == {"empty": 1, "too_short": 1, "too_long": 1, "surplus_item": 1}
    texts, rejected = validate_items('{"items": [{"text": "only one"}]}', expected=3, max_chars=100)
    assert texts == ["only one"] and dict(rejected) == {"missing_item": 2}
    texts, rejected = validate_items("no json here", expected=2, max_chars=100)
    assert texts == [] and dict(rejected) == {"unparseable_response": 2}


def test_duplicate_index_exact_near_and_batch():
    index = DuplicateIndex(threshold=0.7)
    index.add(["I can't believe my dog died today, I miss him so much"], "pool")
    reasons = index.find(
        [
            "i CANT believe my dog died today!! I miss him so much",
            "I can't believe my dog died today, I miss him so much already",
            "A completely different sentence about football and beer",
            "A completely different sentence about football and beer.",
        ]
    )
    assert reasons == ["exact_duplicate_pool", "near_duplicate_pool", None, "exact_duplicate_batch"]
    assert normalize_text("Hey @bob, see https://x.co NOW! Don't") == "hey user see url now dont"
    assert index.admit(["A completely different sentence about football and beer"]) == [None]
    assert index.find(["a completely different sentence about football and beers"]) == [
        "near_duplicate_generated"
    ]


def test_deficits_contract_and_errors():
    targets = parse_deficits({"grief": 2, "pride": 0})
    assert [(t.labels, t.count) for t in targets] == [(("grief",), 2)]
    with pytest.raises(DeficitError, match="labels.happiness: unknown label"):
        parse_deficits({"labels": {"happiness": 3}})
    with pytest.raises(DeficitError, match=r"labelsets\[0\].count"):
        parse_deficits({"labelsets": [{"labels": ["joy"], "count": -1}]})


def test_template_axes_are_seeded():
    import random

    template = load_template()
    first = template.sample_axes(random.Random(5))
    assert first == template.sample_axes(random.Random(5))
    messages = template.generation_messages(["grief"], 3, first)
    assert "Number of texts: 3" in messages[1]["content"] and "Emotions: grief" in messages[1]["content"]
    assert first["persona"].description in messages[1]["content"]


def review_rows():
    records = [
        make_record(
            id=f"llm:{i}",
            text=f"text number {i}",
            labels=[16],
            source="llm",
            label_origin="llm",
            meta={"agreement": {"intended": ["grief"], "annotated": ["joy"], "jaccard": 0.0}},
        )
        for i in range(3)
    ]
    return from_records(records)


def test_review_round_trip_marks_rows_human_reviewed(tmp_path):
    csv_path, _jsonl_path = export_review(review_rows(), tmp_path / "review.csv")
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["grief"] == "1" and rows[0]["joy"] == "0" and rows[0]["annotated"] == "joy"
    rows[0]["joy"] = "1"
    rows[1]["grief"] = "0"
    rows[2]["text"] = "text number 2, fixed"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    reviewed, report = import_review(csv_path)
    assert report["imported"] == 2 and report["rejected"] == 1
    assert set(reviewed["label_origin"]) == {"human-reviewed"}
    assert reviewed[0]["labels"] == GOEMOTIONS.ids(["grief", "joy"])
    meta = json.loads(reviewed[1]["meta"])
    assert (
        reviewed[1]["text"] == "text number 2, fixed" and meta["review"]["original_text"] == "text number 2"
    )
    assert meta["agreement"]["annotated"] == ["joy"], "provenance is kept"
    again, _ = import_review(csv_path, review_rows())
    assert again.to_list() == reviewed.to_list()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda rows: rows[1].update(joy="maybe"), "line 3, column 'joy': expected 0 or 1"),
        (lambda rows: rows[0].update(id="llm:nope"), "line 2: id 'llm:nope' is not in the reviewed dataset"),
        (lambda rows: rows[2].update(id="llm:0"), "line 4: id 'llm:0' already given on line 2"),
    ],
)
def test_bad_review_files_name_file_and_line(tmp_path, edit, message):
    csv_path, _ = export_review(review_rows(), tmp_path / "review.csv")
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    edit(rows)
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ReviewError, match=f"review.csv, {message}"):
        import_review(csv_path)


def test_review_file_without_label_columns_is_rejected(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,text\nllm:0,hello\n")
    with pytest.raises(ReviewError, match=r"r.csv, line 1: header lacks column\(s\) \['admiration'"):
        import_review(path, review_rows())


def test_cli_generate_then_review_export_import(server, tmp_path, capsys):
    deficits = tmp_path / "deficits.json"
    deficits.write_text(json.dumps({"labels": {"grief": 3, "joy": 2}}))
    server.add_fault(
        Fault(
            content='{"labels": [{"name": "anger", "confidence": 0.9}]}',
            match=lambda r: is_annotation(r) and "joy" in r["messages"][-1]["content"],
            times=-1,
        )
    )
    out = tmp_path / "out"
    argv = ["generate", "--deficits", str(deficits), "--out", str(out), "--base-url", server.base_url,
            "--model", "demo", "--max-rounds", "1", "--no-progress", "--seed", "3"]  # fmt: skip
    code = main(argv)
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["accepted"] == 3 and report["to_review"] == 2
    assert report["settings"]["generator"]["api_key_env"] == "OPENAI_API_KEY"
    assert datasets.load_from_disk(str(out / "accepted")).num_rows == 3
    assert (out / "review.csv").is_file() and (out / "review.jsonl").is_file()
    sent = server.request_count
    assert main(argv) == 0
    assert server.request_count == sent
    exported = tmp_path / "again.csv"
    assert main(["review", "export", str(out / "review"), "--out", str(exported)]) == 0
    assert (
        main(
            [
                "review",
                "import",
                str(exported),
                "--dataset",
                str(out / "review"),
                "--out",
                str(tmp_path / "rev"),
            ]
        )
        == 0
    )
    reviewed = datasets.load_from_disk(str(tmp_path / "rev"))
    assert reviewed.num_rows == 2 and set(reviewed["label_origin"]) == {"human-reviewed"}


def test_cli_reports_bad_deficits(tmp_path, capsys):
    deficits = tmp_path / "d.json"
    deficits.write_text('{"labels": {"grief": 2,}}')
    argv = [
        "generate",
        "--deficits",
        str(deficits),
        "--out",
        str(tmp_path / "o"),
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]
    assert main(argv) == 2
    assert "d.json: not valid JSON (line 1)" in capsys.readouterr().err


def test_cap_deficits_limits_each_label_in_total():
    from goemobalance.llm.settings import cap_deficits

    deficits = {
        "labels": {"grief": 9, "joy": 1},
        "labelsets": [{"labels": ["grief", "sadness"], "count": 3}, {"labels": ["grief"], "count": 4}],
    }
    capped = cap_deficits(deficits, 5)
    assert capped["labelsets"] == [
        {"labels": ["grief", "sadness"], "count": 3},
        {"labels": ["grief"], "count": 2},
    ]
    assert capped["labels"] == {"grief": 5, "joy": 1}
    assert sum(t.count for t in parse_deficits(capped) if "grief" in t.labels) == 5


def test_cli_generate_from_recipe_and_pool(server, tmp_path):
    pool = from_records(
        [
            make_record(id=f"g{i}", text=f"pool text {i}", labels=[i % 2], source="goemotions")
            for i in range(6)
        ]
    )
    pool.save_to_disk(str(tmp_path / "pool"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: t\nseed: 5\n"
        f"llm:\n  enabled: true\n  model: demo\n  base_url: {server.base_url}\n  prompts: default\n"
        "  max_new_per_label: 2\n  agreement: subset\n"
        "balance:\n  sampling_strategy: {admiration: 4, grief: 2}\n"
    )
    out = tmp_path / "out"
    assert main(["generate", "--recipe", str(recipe), "--pool", str(tmp_path / "pool"), "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["accepted"] == 3, "admiration: 4 wanted - 3 in the pool; grief: 2"
    assert report["settings"]["generation"]["seed"] == 5
    assert sorted(t["labels"][0] for t in report["targets"]) == ["admiration", "grief"]


def test_fill_pool_runs_the_recipe_stage(server, tmp_path):
    from goemobalance.llm import fill_pool

    pool = from_records(
        [make_record(id=f"g{i}", text=f"pool text {i}", labels=[16], source="goemotions") for i in range(3)]
    )
    section = {"model": "demo", "base_url": server.base_url, "max_new_per_label": 10, "batch_size": 2}
    result = fill_pool(pool, section, target={"grief": 5, "pride": 2}, cache_path=str(tmp_path / "c.sqlite"),
                       seed=1, progress=False)  # fmt: skip
    assert len(result.accepted) == 4
    assert (
        sorted(GOEMOTIONS.name(labels[0]) for labels in result.accepted["labels"])
        == ["grief"] * 2 + ["pride"] * 2
    )


def test_template_errors_name_file_and_key(tmp_path):
    from goemobalance.llm import TemplateError

    path = tmp_path / "t.yaml"
    path.write_text("id: x\ngeneration: {system: s, user: u}\nannotation: {system: s}\n")
    with pytest.raises(TemplateError, match=r"t.yaml: missing text at 'annotation.user'"):
        load_template(path)
    with pytest.raises(TemplateError, match="not found"):
        load_template("no-such-template")
