"""Write notebooks/*.ipynb from the cell lists below (kept here so diffs stay readable).

Run: .venv/bin/python tools/make_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent.parent / "notebooks"


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str, *, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = tags
    return cell


QUICKSTART = [
    md("""
# jobmagic quickstart

Trigger a job from a cell, watch it run, read its logs, stop it — all without leaving the
notebook. This notebook runs against the **sandbox**: a local control plane that speaks
TrueFoundry's Jobs API and runs jobs as local processes, so it needs no account.
"""),
    code("%load_ext jobmagic"),
    md("""
`%jobmagic sandbox start` starts the sandbox in the background (or finds the one already
running) and points this session at it. Against a real TrueFoundry host you skip this: see
`03-truefoundry.ipynb`.
"""),
    code("%jobmagic sandbox start"),
    md("""
## Trigger a run

The cell body is YAML: one `param: value` per line. Values are sent as the text you wrote.
The card updates by itself while the run goes; `-o hello` keeps a handle to it.
"""),
    code("""
%%trigger_job sandbox:demo:hello -o hello
name: Ada
"""),
    md("""
## Wait for it, and stream its logs

`--wait` blocks until the run ends, with a status line that updates in place; `--logs`
prints the run's output as it comes. `{{ name }}` takes a value from the notebook.
"""),
    code("learning_rate = 0.05"),
    code("""
%%trigger_job sandbox:demo:train --wait --logs -o train
lr: {{ learning_rate }}
epochs: 2
"""),
    code("train.status, train.run.exit_code, train.params"),
    code("[line.log for line in train.logs(tail=5)]"),
    md("""
## A run that fails

The card shows the failure: status, exit code and the error. (With `--wait` the cell itself
would fail, so "Run All" stops at a failed job.)
"""),
    code("failed = %trigger_job sandbox:demo:fail"),
    code("failed"),
    code("""
final = failed.wait(timeout=60)
final.status, final.exit_code, final.error
"""),
    md("""
## Stop a long run

`sandbox:demo:sleep` would run for ten minutes. Terminate it from code — or with the card's
Terminate button.
"""),
    code("""
%%trigger_job sandbox:demo:sleep -o long
seconds: 600
"""),
    code("""
long.terminate()
long.wait(timeout=60).status
"""),
    md("""
## One line, and the runs of this session

`%trigger_job` takes params as `name=value` and returns the handle. `%job_runs` lists what
this session triggered, from the local ledger, with fresh statuses.
"""),
    code("grace = %trigger_job sandbox:demo:hello name=Grace"),
    code("grace.wait(timeout=60).status"),
    code("%job_runs --refresh --table"),
]

SWEEPS = [
    md("""
# Sweeps and analysis

Trigger a grid of runs, watch them on one board, then analyse them as a pandas DataFrame.
"""),
    code("""
%load_ext jobmagic
%jobmagic sandbox start
"""),
    md("""
## A grid sweep

With `--grid`, every list becomes an axis: 3 learning rates x 2 epoch counts = 6 runs, at
most `--concurrency` triggers in flight. The board shows them all, live.
"""),
    code("""
%%trigger_job sandbox:demo:train --grid --concurrency 4 --wait -o sweep
lr: [0.1, 0.01, 0.001]
epochs: [1, 2]
"""),
    md("## As a DataFrame\n\nOne row per run; each param is a `params.<name>` column."),
    code("""
import jobmagic

df = jobmagic.runs_to_dataframe(sweep)
df[["name", "status", "duration", "exit_code", "params.lr", "params.epochs"]]
"""),
    code("df.dtypes"),
    code("""
df.groupby("params.epochs", observed=True)["duration"].mean()
"""),
    md("""
## Outcomes: metrics beside params

The demo job logs `loss` and `accuracy` once per epoch to an ML run (TrueFoundry's
experiment tracking), tagged with the job run's name. `metrics=True` adds each run's latest
values as float `metrics.<name>` columns: one search per job, however many runs.
"""),
    code("""
df = jobmagic.runs_to_dataframe(sweep, metrics=True)
df[["name", "params.lr", "params.epochs", "metrics.loss", "metrics.accuracy"]]
"""),
    md("""
`compare` keeps only the params that differ between the runs, adds their metrics and sorts
best first (smallest for losses and errors, largest otherwise).
"""),
    code('jobmagic.compare(sweep, by="loss")'),
    md("Every logged point, one line per run, coloured by a param:"),
    code('jobmagic.plot_metric(sweep, "loss", color_by="lr")'),
    code('jobmagic.metric_history(sweep, "loss").head()'),
    md("## The best run\n\nIts handle has its params and metrics; `rerun` would repeat it."),
    code("""
best_name = jobmagic.compare(sweep, by="loss")["name"].iloc[0]
best = next(run for run in sweep if run.name == best_name)
best.params, best.metrics
"""),
    md("## When did each run go?\n\nOne bar per run, coloured by status, labelled by a param."),
    code("""
%matplotlib inline
fig = jobmagic.plot_timeline(sweep, label="lr")
fig
"""),
    md("""
## From Python, and as a form

`jobmagic.sweep` is the same engine as `--grid`. `jobmagic.TriggerForm` offers the job's
declared params as fields; each click adds a card below.
"""),
    code("""
greetings = jobmagic.sweep("sandbox:demo:hello", runs=[{"name": "Ada"}, {"name": "Grace"}])
greetings
"""),
    code("""
jobmagic.TriggerForm("sandbox:demo:train")
"""),
]

TRUEFOUNDRY = [
    md("""
# Using a real TrueFoundry host

jobmagic reads credentials where TrueFoundry's own tools keep them, first wins:

1. `%config JobMagic.host = "…"` and `%config JobMagic.api_key = "…"`,
2. the `TFY_HOST` and `TFY_API_KEY` environment variables,
3. `~/.truefoundry/credentials.json`, written by `tfy login` — so if you have logged in
   with TrueFoundry's CLI, there is nothing to set up.

The token is never shown: not in outputs, not in `%jobmagic`, not in errors.

The cell below holds this notebook's parameters; the test suite runs it against the sandbox
by filling them in.
"""),
    code(
        """
# Parameters: your host, and the job to use (an FQN is cluster:workspace:app).
TFY_HOST = None  # e.g. "https://my-org.truefoundry.cloud"; None keeps TFY_HOST / tfy login
JOB = "my-cluster:my-workspace:my-job"
""",
        tags=["parameters"],
    ),
    code("%load_ext jobmagic"),
    code("""
import os

if TFY_HOST:
    %config JobMagic.host = TFY_HOST
# Read the token from the environment rather than pasting it into a cell.
if os.environ.get("TFY_API_KEY"):
    %config JobMagic.api_key = os.environ["TFY_API_KEY"]
"""),
    md("`%jobmagic` says where it points and where the token came from — never the token."),
    code("%jobmagic"),
    md("""
## Check a request before sending it

`--dry-run` looks the job up by FQN (a read) and shows the exact request a trigger would
send, token masked. Nothing is triggered.
"""),
    code("""
%%trigger_job {JOB} --dry-run -o request
lr: 0.01
"""),
    md("""
## The Python API

`jobmagic.JobsClient` speaks the same API from plain Python (there is an `AsyncJobsClient`
twin). It finds an application by FQN, as TrueFoundry's SDK does, and triggers its active
deployment.
"""),
    code("""
import jobmagic

with jobmagic.JobsClient(TFY_HOST, os.environ.get("TFY_API_KEY")) as client:
    app = client.find_app(JOB)
    print(app.fqn, "declares", [p.name for p in app.params])
    runs = client.list_runs(app.id, limit=5, sort_by="startTime", order="desc")
jobmagic.runs_to_dataframe(runs)[["name", "status", "created_at"]]
"""),
    md("""
Errors are typed, so code can catch what it cares about: `AuthError`, `NotFoundError`,
`ValidationError`, `ServerError`, `TransportError`, and `TriggerOutcomeUnknown` — the one case
where a trigger may have started a run although its answer was lost.
"""),
    code("""
try:
    client = jobmagic.JobsClient(TFY_HOST, os.environ.get("TFY_API_KEY"))
    client.find_app(JOB + "-that-does-not-exist")
except jobmagic.NotFoundError as exc:
    print("NotFoundError:", exc)
"""),
]


#: notebooks/04-search.ipynb: a search from a cell body to the best run, and its pictures.
SEARCH = [
    md("""# Search: which params make the best run?

A grid tries every combination; a search lets [Optuna](https://optuna.org) choose the next
params from the results so far (TPE), and stops runs that are clearly losing (pruning). Every
trial is a run of the job, triggered and recorded like any other; the study is stored beside
the ledger, so the same `--name` continues it later, in any kernel.

Needs the `search` extra: `pip install 'jobmagic[search]'`."""),
    code("""%load_ext jobmagic
%jobmagic sandbox start
# Poll every half second: the demo's epochs are half a second long.
%config JobMagic.poll_interval = 0.5"""),
    md("""## The space, in the cell body

A fixed value is sent with every trial, a list is a choice, and a mapping is a range:
`{low, high}` (integers when both are integers), with `log: true` for a log scale or `step`
for a stepped one. `--objective loss` says what to optimise: `loss` is minimised by its name
(`accuracy` would be maximised); write `loss:min` or `accuracy:max` to say it outright.

The demo `train` job logs `loss` once per epoch to an ML run. With `--pruner median`, each
epoch's loss is reported as it arrives, and a run whose loss is worse than the median of the
earlier trials at the same epoch is terminated at the server."""),
    code("""%%trigger_job sandbox:demo:train --search tpe --trials 12 --concurrency 4 --objective loss --pruner median --name lr-search -o search
lr: {low: 0.001, high: 0.2, log: true}
epochs: {low: 2, high: 5}"""),  # noqa: E501 (a magic's line cannot wrap)
    md("""## Each trial, as a DataFrame

One row per run, with its `trial` number, its `trial_state` (`COMPLETE`, `PRUNED` for a run
stopped early, `FAIL` for a run that failed or never logged the metric) and its `value`."""),
    code("""frame = search.to_dataframe()
frame[["name", "status", "params.lr", "params.epochs", "trial", "trial_state", "value"]]"""),
    md("""## The best run, and a rerun with a change

`best()` is the finished trial with the best value of the objective. Its handle reruns it
with one param changed (the ledger and its card say which run it repeats)."""),
    code("""best = search.best()
best.name, dict(best.params), best.metrics["loss"]"""),
    code("""again = best.rerun(epochs="6")
again.wait(timeout=120).status, again.rerun_of == best.name, again.metrics["loss"]"""),
    md("""## What mattered

Parallel coordinates: one line per finished trial from its params to its loss, the colour
scale bright where the loss is best (the best trial in red)."""),
    code("search.plot_parallel()"),
    md("""How much each param mattered to the loss (Optuna's fANOVA importance, summing to 1):"""),
    code("search.plot_importance()"),
    md("""## From Python, continuing the study

`jobmagic.search` is the same search; the same `name` adds trials to the stored study (here 4
more), and a space can also use Optuna's own distributions."""),
    code("""import jobmagic
from optuna.distributions import IntDistribution

more = jobmagic.search(
    "sandbox:demo:train",
    {"lr": {"low": 0.001, "high": 0.2, "log": True}, "epochs": IntDistribution(2, 5)},
    objective="loss",
    trials=4,
    concurrency=4,
    name="lr-search",
)
len(more.trials()), more.best().name"""),
]


def write(name: str, cells: list[nbformat.NotebookNode]) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    HERE.mkdir(exist_ok=True)
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write("01-quickstart.ipynb", QUICKSTART)
    write("02-sweeps-and-analysis.ipynb", SWEEPS)
    write("03-truefoundry.ipynb", TRUEFOUNDRY)
    write("04-search.ipynb", SEARCH)
