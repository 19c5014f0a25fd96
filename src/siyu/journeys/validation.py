"""Save-time checks: a journey that cannot run as written is refused with the step and reason."""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.errors import InvalidField
from siyu.ingest.models import EVENT_TYPES
from siyu.journeys import cron, effects
from siyu.journeys.definition import (
    Definition,
    SendStep,
    SplitStep,
    WaitStep,
    exits,
)

# Variables a message may use, and the customer fields under `customer.`.
# (what the channels domain fills when it renders; journey_id and run_id come from the step).
VARIABLES = {"customer", "recommendations", "link", "unsubscribe_url", "journey_id", "run_id"}
CUSTOMER_FIELDS = {
    "id",
    "name",
    "gender",
    "city",
    "province",
    "birthday",
    "stage",
    "order_count",
    "total_spend_yuan",
    "favourite_category",
}
GOAL_EVENTS = {"order", *EVENT_TYPES}


def parse(data: Any) -> Definition:
    """A Definition from plain data; the first problem is named by its path."""
    try:
        return Definition.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "definition"
        raise InvalidField(where, str(first["msg"]), str(first["msg"])) from None


def check(session: Session, principal: Principal, definition: Definition) -> None:
    """Refuse unreachable steps, dead ends, unknown channels/templates and missing variables."""
    steps = {}
    for step in definition.steps:
        if step.key in steps:
            raise _bad(step.key, "步骤键重复", "the step key is used twice")
        steps[step.key] = step
    if definition.start not in steps:
        raise InvalidField("start", "起始步骤不存在", f"no step named {definition.start!r}")
    for step in definition.steps:
        for target in exits(step):
            if target not in steps:
                raise _bad(step.key, f"下一步 {target} 不存在", f"goes to unknown step {target!r}")
    _reachable(definition, steps)
    _acyclic(definition, steps)
    _trigger(definition)
    channels = effects.known_channels(session, principal)
    for step in definition.steps:
        if isinstance(step, WaitStep):
            _wait(step)
        elif isinstance(step, SplitStep):
            names = [v.name for v in step.variants]
            if len(set(names)) != len(names):
                raise _bad(step.key, "分组名称重复", "variant names repeat")
        elif isinstance(step, SendStep):
            _send(session, principal, step, channels)
    if definition.goal and definition.goal.event not in GOAL_EVENTS:
        raise InvalidField(
            "goal.event", "未知的转化事件", f"unknown event {definition.goal.event!r}"
        )
    if definition.re_entry.policy == "after_days" and not definition.re_entry.days:
        raise InvalidField("re_entry.days", "需要给出天数", "after_days needs days")


def _bad(key: str, zh: str, en: str) -> InvalidField:
    return InvalidField(f"steps.{key}", zh, en)


def _reachable(definition: Definition, steps: dict[str, Any]) -> None:
    seen, todo = set(), [definition.start]
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(exits(steps[key]))
    for step in definition.steps:
        if step.key not in seen:
            raise _bad(step.key, "从起始步骤无法到达此步骤", "is unreachable from the start")


def _acyclic(definition: Definition, steps: dict[str, Any]) -> None:
    # A loop would run a step twice in one run; re-entry is how a customer goes round again.
    state: dict[str, int] = {}

    def visit(key: str) -> None:
        state[key] = 1
        for target in exits(steps[key]):
            if state.get(target) == 1:
                raise _bad(target, "步骤构成循环", "is part of a loop")
            if target not in state:
                visit(target)
        state[key] = 2

    visit(definition.start)


def _trigger(definition: Definition) -> None:
    trigger = definition.trigger
    if trigger.type == "event" and trigger.event not in EVENT_TYPES:
        raise InvalidField(
            "trigger.event", "未知的事件类型", f"unknown event type {trigger.event!r}"
        )
    if trigger.type in ("segment_entered", "segment_exited") and trigger.segment_id is None:
        raise InvalidField(
            "trigger.segment_id", "需要指定人群", "a segment trigger needs segment_id"
        )
    if trigger.type == "lifecycle_stage" and not trigger.stage:
        raise InvalidField("trigger.stage", "需要指定生命周期阶段", "needs the stage entered")
    if trigger.type == "schedule":
        schedule = trigger.schedule
        if schedule is None:
            raise InvalidField("trigger.schedule", "需要计划", "a schedule trigger needs schedule")
        if schedule.kind == "once" and schedule.at is None:
            raise InvalidField("trigger.schedule.at", "需要时间", "once needs at")
        if schedule.kind == "periodic" and not schedule.every_days:
            raise InvalidField("trigger.schedule.every_days", "需要周期天数", "needs every_days")
        if schedule.kind == "cron":
            try:
                cron.parse(schedule.cron or "")
            except cron.CronError as exc:
                raise InvalidField("trigger.schedule.cron", str(exc), str(exc)) from None


def _wait(step: WaitStep) -> None:
    ways = [step.duration, step.until_time, step.until_event]
    if sum(w is not None for w in ways) != 1:
        raise _bad(step.key, "等待需且仅需一种方式", "a wait needs exactly one of its kinds")
    if step.duration is not None and not step.duration.delta():
        raise _bad(step.key, "等待时长为零", "waits for no time")
    until = step.until_event
    if until is not None:
        if until.event not in EVENT_TYPES:
            raise _bad(step.key, "未知的事件类型", f"waits for unknown event {until.event!r}")
        if until.timeout is None or not until.timeout.delta():
            raise _bad(step.key, "等待事件没有超时出口", "waits for an event with no timeout")


def _send(session: Session, principal: Principal, step: SendStep, channels: set[str]) -> None:
    if step.channel not in channels:
        raise _bad(
            step.key, f"渠道 {step.channel} 未配置", f"channel {step.channel!r} is not set up"
        )
    if (step.template_id is None) == (step.content is None):
        raise _bad(step.key, "需给出模板或内容之一", "give either template_id or content")
    body = step.content
    if step.template_id is not None:
        body = effects.template_variables(session, principal, step.template_id)
        if body is None:
            raise _bad(step.key, "模板不存在", f"template {step.template_id} does not exist")
    missing = missing_variables(body or "")
    if missing:
        names = ", ".join(missing)
        raise _bad(step.key, f"模板变量不存在：{names}", f"unknown template variables: {names}")


def missing_variables(body: str) -> list[str]:
    """Variables a message uses that a journey cannot fill (sorted)."""
    env = SandboxedEnvironment()
    try:
        tree = env.parse(body)
    except TemplateSyntaxError as exc:
        return [f"syntax: {exc.message}"]
    missing = {v for v in meta.find_undeclared_variables(tree) if v not in VARIABLES}
    for node in tree.find_all(nodes.Getattr):
        is_customer = isinstance(node.node, nodes.Name) and node.node.name == "customer"
        if is_customer and node.attr not in CUSTOMER_FIELDS:
            missing.add(f"customer.{node.attr}")
    return sorted(missing)
