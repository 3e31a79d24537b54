"""Auth on every endpoint, the unauthenticated ones, and the applications API."""

from __future__ import annotations

import pytest

from jobmagic.models import Application
from jobmagic.sandbox import SandboxServer
from tests.sandbox.sandbox_helpers import HELLO, TRAIN, assert_error, client_for

# --- auth and unauthenticated endpoints ----------------------------------------------

#: The demo jobs every sandbox serves without --jobs (jobmagic/sandbox/demo_jobs.yaml).
DEMO_FQNS = {
    "sandbox:demo:hello",
    "sandbox:demo:train",
    "sandbox:demo:fail",
    "sandbox:demo:sleep",
    "sandbox:demo:hostile",
    "sandbox:demo:flood",
}


def test_min_cli_version_and_tenant_id_need_no_token(shared_sandbox: SandboxServer) -> None:
    with client_for(base_url=shared_sandbox.api_url) as anonymous:
        version = anonymous.get("/min-cli-version")
        tenant = anonymous.get("/tenant-id", params={"hostName": "127.0.0.1"})
    assert version.status_code == 200
    assert version.json() == {"minVersion": "0.0.0", "truefoundryCliMinVersion": "0.0.0"}
    assert tenant.status_code == 200
    assert tenant.json() == {"tenantName": "sandbox", "auth_server_url": shared_sandbox.host}


AUTHENTICATED = [
    ("POST", "/jobs/trigger"),
    ("GET", f"/jobs/{HELLO}/runs"),
    ("GET", f"/jobs/{HELLO}/runs/hello-xxxxx"),
    ("DELETE", f"/jobs/{HELLO}/runs/hello-xxxxx"),
    ("POST", "/jobs/terminate?deploymentId=dep-sandbox-demo-hello&jobRunName=x"),
    ("GET", f"/logs?applicationId={HELLO}"),
    ("GET", f"/events?applicationId={HELLO}"),
    ("GET", "/apps"),
    ("GET", f"/apps/{HELLO}"),
    ("GET", "/fqn/app?fqn=sandbox:demo:hello"),
    ("GET", "/session"),
]


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer"])
def test_every_api_endpoint_requires_the_token(
    shared_sandbox: SandboxServer, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with client_for(base_url=shared_sandbox.api_url) as client:
        response = client.request(method, path, headers=headers, json={})
    body = assert_error(response, 401)
    assert body["code"] == "UNAUTHORIZED"
    assert response.headers["www-authenticate"] == "Bearer"
    assert shared_sandbox.token not in response.text


def test_generated_token_looks_like_a_truefoundry_pat(shared_sandbox: SandboxServer) -> None:
    assert shared_sandbox.token.startswith("tfy_") and len(shared_sandbox.token) > 40
    assert shared_sandbox.token not in repr(shared_sandbox)


def test_admin_endpoints_require_the_token(shared_sandbox: SandboxServer) -> None:
    with client_for(base_url=shared_sandbox.host) as anonymous:
        assert_error(anonymous.get("/_sandbox/stats"), 401)
        assert_error(anonymous.post("/_sandbox/faults", json={"faults": []}), 401)
        assert anonymous.get("/_sandbox/health").json() == {"status": "ok"}


def test_unknown_paths_and_methods_use_the_error_shape(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        assert_error(client.get("/no/such/thing"), 404)
        assert_error(client.get("/jobs/trigger"), 405)


# --- applications ----------------------------------------------------------------------


def test_apps_lists_the_demo_jobs_with_their_declared_params(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        body = client.get("/apps").json()
    assert body["pagination"] == {"total": len(DEMO_FQNS), "offset": 0, "limit": 100}
    apps = {app["fqn"]: app for app in body["data"]}
    assert set(apps) == DEMO_FQNS
    train = apps["sandbox:demo:train"]
    assert train["id"] == TRAIN and train["name"] == "train" and train["type"] == "job"
    assert train["tenantName"] == "sandbox"
    assert train["workspaceId"] == "ws-sandbox-demo"
    assert train["activeDeploymentId"] == train["lastDeploymentId"] == "dep-sandbox-demo-train"
    assert train["activeVersion"] == train["lastVersion"] == 1
    assert train["workspace"] == {
        "id": "ws-sandbox-demo",
        "name": "demo",
        "fqn": "sandbox:demo",
        "clusterId": "sandbox",
    }
    for key in ("createdAt", "updatedAt"):
        assert train[key].endswith("Z")
    deployment = train["deployment"]
    assert deployment["id"] == "dep-sandbox-demo-train"
    assert deployment["fqn"] == "sandbox:demo:train:1"
    assert deployment["version"] == 1 and deployment["applicationId"] == TRAIN
    assert isinstance(deployment["currentStatusId"], str)
    manifest = deployment["manifest"]
    assert manifest["name"] == "train" and manifest["type"] == "job"
    assert "--lr={{lr}}" in manifest["image"]["command"]
    assert manifest["params"] == [
        {"name": "lr", "param_type": "string", "description": "Learning rate.", "default": "0.01"},
        {
            "name": "epochs",
            "param_type": "string",
            "description": "Number of epochs.",
            "default": "3",
        },
    ]
    # jobmagic's model reads the declared params back.
    parsed = Application.from_api(train)
    assert parsed.deployment_id == "dep-sandbox-demo-train"
    assert [(p.name, p.default) for p in parsed.params] == [("lr", "0.01"), ("epochs", "3")]
    assert parsed.created_at is not None and parsed.workspace.fqn == "sandbox:demo"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"fqn": "sandbox:demo:hello"}, ["hello"]),
        ({"fqn": "sandbox:demo:hello:1"}, ["hello"]),
        ({"fqn": "sandbox:demo:nope"}, []),
        ({"applicationName": "fail"}, ["fail"]),
        ({"workspaceFqn": "sandbox:demo", "nameSearchQuery": "LE"}, ["sleep", "hostile"]),
        ({"workspaceFqn": "other:ws"}, []),
        ({"applicationType": "job", "nameSearchQuery": "ai"}, ["train", "fail"]),
        ({"applicationType": "service"}, []),
    ],
)
def test_apps_filters(
    shared_sandbox: SandboxServer, query: dict[str, str], expected: list[str]
) -> None:
    with client_for(shared_sandbox) as client:
        body = client.get("/apps", params=query).json()
    assert [app["name"] for app in body["data"]] == expected
    assert body["pagination"]["total"] == len(expected)


def test_apps_pagination_and_bad_limits(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        first = client.get("/apps", params={"limit": 3}).json()
        rest = client.get("/apps", params={"limit": 3, "offset": 3}).json()
        for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"offset": -1}):
            body = assert_error(client.get("/apps", params=bad), 422)
            assert body["details"][0]["field"] in bad
    total = len(DEMO_FQNS)
    assert len(first["data"]) == 3 and len(rest["data"]) == total - 3
    assert first["pagination"] == {"total": total, "offset": 0, "limit": 3}
    assert rest["pagination"] == {"total": total, "offset": 3, "limit": 3}


def test_get_app_and_fqn_lookup(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        app = client.get(f"/apps/{HELLO}").json()["data"]
        ids = client.get("/fqn/app", params={"fqn": "sandbox:demo:hello"}).json()
        assert_error(client.get("/apps/app-nope"), 404)
        assert_error(client.get("/fqn/app", params={"fqn": "a:b:c"}), 404)
        missing = assert_error(client.get("/fqn/app"), 422)
    assert app["fqn"] == "sandbox:demo:hello"
    assert ids == {"applicationId": HELLO, "workspaceId": "ws-sandbox-demo"}
    assert missing["details"] == [{"field": "fqn", "message": "is required"}]


def test_session(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        user = client.get("/session").json()["user"]
    assert user["tenantName"] == "sandbox"
    assert isinstance(user["email"], str)
    assert user["subject"]["subjectType"] == "user"
    assert isinstance(user["subject"]["subjectSlug"], str)
