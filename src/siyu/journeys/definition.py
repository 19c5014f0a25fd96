"""What a journey is: trigger, steps, waits, branches, split, holdout, goal, re-entry (pydantic)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEY = r"^[a-z0-9_]{1,64}$"
TRIGGERS = (
    "event",
    "first_order",
    "segment_entered",
    "segment_exited",
    "lifecycle_stage",
    "schedule",
    "manual",
)


class Shape(BaseModel):
    """Unknown fields are refused, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid")


class Duration(Shape):
    """A span of time."""

    days: int = Field(default=0, ge=0, le=3650)
    hours: int = Field(default=0, ge=0, le=10_000)
    minutes: int = Field(default=0, ge=0, le=100_000)

    def delta(self) -> timedelta:
        """As a timedelta."""
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


class Schedule(Shape):
    """once at a time, a cron expression, or every N days at a local time of day."""

    kind: Literal["once", "cron", "periodic"]
    at: datetime | None = None
    cron: str | None = None
    every_days: int | None = Field(None, ge=1, le=366)
    time_of_day: str = "10:00"


class Audience(Shape):
    """Who a scheduled journey enters: everyone, a segment, a tag or a lifecycle stage."""

    segment_id: int | None = None
    tag: str | None = None
    lifecycle_stage: str | None = None
    # Any of several stages (e.g. the three dormancy levels).
    stages: list[str] = Field(default_factory=list)
    # Customers whose birthday (MM-DD) is the firing's local date.
    birthday_today: bool = False


class Trigger(Shape):
    """What lets a customer in."""

    type: Literal[
        "event",
        "first_order",
        "segment_entered",
        "segment_exited",
        "lifecycle_stage",
        "schedule",
        "manual",
    ]
    event: str | None = None
    # Event properties that must be equal, e.g. {"source": "wecom"}.
    where: dict[str, Any] = Field(default_factory=dict)
    segment_id: int | None = None
    stage: str | None = None
    schedule: Schedule | None = None
    audience: Audience | None = None


class Goal(Shape):
    """A conversion (an order, or an event type) within the window exits and counts revenue."""

    event: str = "order"
    within_days: int = Field(7, ge=1, le=365)


class ReEntry(Shape):
    """May a customer enter again: never, after N days since the last entry, or always."""

    policy: Literal["never", "after_days", "always"] = "never"
    days: int | None = Field(default=None, ge=1, le=3650)


class Condition(Shape):
    """One test on the customer: an attribute, a tag, a recent event, a lifecycle stage."""

    attribute: str | None = None
    op: Literal["eq", "ne", "in", "exists", "gte", "lte"] = "eq"
    value: Any = None
    tag: str | None = None
    event: str | None = None
    within_days: int = Field(30, ge=1, le=3650)
    lifecycle_stage: str | None = None
    # False turns the test around: "has no such tag", "did not click".
    has: bool = True


class Rule(Shape):
    """A branch arm: when every condition holds, go to next."""

    all: list[Condition] = Field(min_length=1)
    next: str | None = None


class Variant(Shape):
    """An A/B arm with a weight."""

    name: str = Field(pattern=KEY)
    weight: int = Field(ge=1, le=10_000)
    next: str | None = None


class StepBase(Shape):
    """Every step has a key (unique in the journey) and where to go afterwards."""

    key: str = Field(pattern=KEY)
    label: str | None = None
    next: str | None = None


class SendStep(StepBase):
    """Send a message through a channel, from a template or inline content."""

    type: Literal["send"]
    channel: str
    template_id: int | None = None
    content: str | None = None
    purpose: Literal["marketing", "transactional"] = "marketing"
    priority: int = Field(0, ge=0, le=100)


class CouponStep(StepBase):
    """Issue a coupon from a coupon template (e.g. 满50减20)."""

    type: Literal["coupon"]
    template: str


class PointsStep(StepBase):
    """Grant points."""

    type: Literal["points"]
    points: int = Field(ge=1, le=1_000_000)
    reason: str = "journey"


class TagStep(StepBase):
    """Add or remove a tag."""

    type: Literal["tag"]
    action: Literal["add", "remove"] = "add"
    tag: str = Field(min_length=1, max_length=64)


class TaskStep(StepBase):
    """A task for a shopping guide or staff member, e.g. a call, due after a while."""

    type: Literal["task"]
    title: str = Field(min_length=1, max_length=256)
    assignee: str = Field(min_length=1, max_length=64)
    due: Duration = Field(default_factory=lambda: Duration(days=1))


class WebhookStep(StepBase):
    """Call a webhook (signed) with the run and customer."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None


class UntilEvent(Shape):
    """Wait for an event; `next` of the wait is taken on timeout, `on_event` when it comes."""

    event: str
    timeout: Duration | None = None
    on_event: str | None = None


class WaitStep(StepBase):
    """Wait a duration, until a local time of day, or until an event (with a timeout)."""

    type: Literal["wait"]
    duration: Duration | None = None
    until_time: str | None = None
    until_event: UntilEvent | None = None

    @field_validator("until_time")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None:
            time.fromisoformat(value)
        return value


class BranchStep(StepBase):
    """The first rule that holds picks the next step; `next` is the otherwise."""

    type: Literal["branch"]
    rules: list[Rule] = Field(min_length=1)


class SplitStep(StepBase):
    """A random (deterministic by customer and journey) A/B split."""

    type: Literal["split"]
    variants: list[Variant] = Field(min_length=2)


class ExitStep(StepBase):
    """Leave the journey here."""

    type: Literal["exit"]


Step = Annotated[
    SendStep
    | CouponStep
    | PointsStep
    | TagStep
    | TaskStep
    | WebhookStep
    | WaitStep
    | BranchStep
    | SplitStep
    | ExitStep,
    Field(discriminator="type"),
]


class Definition(Shape):
    """A whole journey, as saved, exported and imported (YAML or JSON)."""

    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    trigger: Trigger
    start: str
    steps: list[Step] = Field(min_length=1)
    holdout_percent: int = Field(0, ge=0, le=50)
    goal: Goal | None = None
    re_entry: ReEntry = Field(default_factory=lambda: ReEntry())


def exits(step: Any) -> list[str]:
    """The keys a step may go to next."""
    found = [step.next] if step.next else []
    if isinstance(step, BranchStep):
        found += [r.next for r in step.rules if r.next]
    if isinstance(step, SplitStep):
        found += [v.next for v in step.variants if v.next]
    if isinstance(step, WaitStep) and step.until_event and step.until_event.on_event:
        found.append(step.until_event.on_event)
    return found
