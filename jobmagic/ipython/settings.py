"""``%config JobMagic.<option>``: jobmagic's settings as a traitlets Configurable.

>>> %config JobMagic.poll_interval = 5          # doctest: +SKIP
>>> %config JobMagic                            # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from traitlets import All, Bool, Dict, Float, Int, TraitError, TraitType, Unicode, observe, validate
from traitlets.config import Configurable

from jobmagic.config import Settings, mask_token
from jobmagic.errors import ObjectiveError
from jobmagic.models.metrics import compile_patterns
from jobmagic.models.objectives import parse_goal

__all__ = ["JobMagic"]


class _SecretText(str):
    """A str whose repr hides it: ``%config JobMagic`` prints current values with repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_token(str.__str__(self)))


class _Secret(TraitType[Any, Any]):
    info_text = "a secret string (shown masked)"
    default_value = None

    def validate(self, obj: Any, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return _SecretText(value)
        self.error(obj, value)


class JobMagic(Configurable):
    """Settings of the jobmagic extension; change them with ``%config JobMagic.<name> = …``."""

    host = Unicode(
        None,
        allow_none=True,
        help="TrueFoundry host, e.g. https://my-org.truefoundry.cloud (else TFY_HOST, "
        "else ~/.truefoundry/credentials.json).",
    ).tag(config=True)
    api_key = _Secret(
        help="API token (else TFY_API_KEY, else `tfy login`'s file). Never displayed.",
    ).tag(config=True)
    poll_interval = Float(2.0, help="Seconds between status polls of live cards.").tag(config=True)
    wait_timeout = Float(
        0.0, help="Default --timeout of --wait, in seconds; 0 waits without limit."
    ).tag(config=True)
    request_timeout = Float(30.0, help="Seconds before one HTTP request gives up.").tag(config=True)
    show_cards = Bool(True, help="Display a live card for each triggered run.").tag(config=True)
    ledger_path = Unicode(
        None,
        allow_none=True,
        help="The SQLite run ledger; default $JOBMAGIC_HOME/ledger.sqlite3.",
    ).tag(config=True)
    ledger_fsync = Bool(
        False,
        help="Flush every ledger commit to the disk: attempts then survive a power cut or an "
        "OS crash too, not only a killed kernel (about 0.2-0.5 ms more per commit).",
    ).tag(config=True)
    allow_insecure_http = Bool(
        False, help="Allow sending the token over plain http:// to a non-loopback host."
    ).tag(config=True)
    verify_tls = Bool(True, help="Verify the server's TLS certificate.").tag(config=True)
    ca_bundle = Unicode(None, allow_none=True, help="Path of a CA bundle to verify TLS with.").tag(
        config=True
    )
    concurrency = Int(8, help="Default --concurrency of --grid sweeps.").tag(config=True)
    metric_patterns = Dict(
        value_trait=Unicode(),
        key_trait=Unicode(),
        help='Metrics read from run logs: {"acc": r"acc=([0-9.eE+-]+)"}; the group holds '
        "the value, the last match is the latest. ML-run metrics win for the same name.",
    ).tag(config=True)

    metric_goals = Dict(
        value_trait=Unicode(),
        key_trait=Unicode(),
        help='Which way a metric is better: {"uptime": "max", "val_gap": "min"}. Over the '
        "defaults by the name's last token (loss, error, rmse: min; accuracy, f1, auc: max); "
        "a metric with neither is shown unranked (no ★).",
    ).tag(config=True)

    @validate("metric_goals")
    def _check_goals(self, proposal: Any) -> Any:
        # Refused when set, with the word that is wrong: a goal is min or max.
        try:
            return {str(name): parse_goal(str(goal)) for name, goal in proposal["value"].items()}
        except ObjectiveError as exc:
            raise TraitError(f"JobMagic.metric_goals: {exc}") from None

    @validate("metric_patterns")
    def _check_patterns(self, proposal: Any) -> Any:
        # Refused when set, not at the first run: a typo is named where it was made.
        try:
            compile_patterns(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    @observe(All)
    def _forget_settings(self, change: Any) -> None:
        self.__dict__.pop("_settings", None)

    def to_settings(self) -> Settings:
        """The settings now, as one frozen :class:`Settings`; built again only after a
        change (a session reads them several times per trigger)."""
        settings: Settings | None = self.__dict__.get("_settings")
        if settings is None:
            settings = self.__dict__["_settings"] = self._build_settings()
        return settings

    def _build_settings(self) -> Settings:
        return Settings(
            host=self.host or None,
            api_key=str.__str__(self.api_key) if self.api_key else None,
            poll_interval=max(0.1, float(self.poll_interval)),
            wait_timeout=float(self.wait_timeout) or None,
            request_timeout=float(self.request_timeout),
            show_cards=bool(self.show_cards),
            ledger_path=self.ledger_path or None,
            ledger_fsync=bool(self.ledger_fsync),
            allow_insecure_http=bool(self.allow_insecure_http),
            verify_tls=bool(self.verify_tls),
            ca_bundle=self.ca_bundle or None,
            concurrency=max(1, int(self.concurrency)),
            metric_patterns=tuple((str(k), str(v)) for k, v in self.metric_patterns.items()),
            metric_goals=tuple((str(k), str(v)) for k, v in self.metric_goals.items()),
        )
