import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from protos.ticketing.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_PLACED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING: _ClassVar[OrderStatus]
    ORDER_STATUS_PAID: _ClassVar[OrderStatus]
    ORDER_STATUS_FAILED: _ClassVar[OrderStatus]
    ORDER_STATUS_EXPIRED: _ClassVar[OrderStatus]
    ORDER_STATUS_REFUNDED: _ClassVar[OrderStatus]
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_PLACED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
ORDER_STATUS_PENDING: OrderStatus
ORDER_STATUS_PAID: OrderStatus
ORDER_STATUS_FAILED: OrderStatus
ORDER_STATUS_EXPIRED: OrderStatus
ORDER_STATUS_REFUNDED: OrderStatus

class Payment(_message.Message):
    __slots__ = ("payment_ref", "checkout_url", "expires_at")
    PAYMENT_REF_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    payment_ref: str
    checkout_url: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, payment_ref: _Optional[str] = ..., checkout_url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("id", "event_id", "ticket_id", "quantity", "email", "phone_number", "total_amount", "status", "payment", "order_token", "paid_at", "placed_at", "failure_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TOTAL_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    ORDER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    PLACED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_id: str
    ticket_id: str
    quantity: int
    email: str
    phone_number: str
    total_amount: _common_pb2.Money
    status: OrderStatus
    payment: Payment
    order_token: str
    paid_at: _timestamp_pb2.Timestamp
    placed_at: _timestamp_pb2.Timestamp
    failure_reason: str
    def __init__(self, id: _Optional[str] = ..., event_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., quantity: _Optional[int] = ..., email: _Optional[str] = ..., phone_number: _Optional[str] = ..., total_amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., payment: _Optional[_Union[Payment, _Mapping]] = ..., order_token: _Optional[str] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., placed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failure_reason: _Optional[str] = ...) -> None: ...

class PlaceOrderRequest(_message.Message):
    __slots__ = ("idempotency_key", "event_id", "ticket_id", "quantity", "email", "phone_number")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    event_id: str
    ticket_id: str
    quantity: int
    email: str
    phone_number: str
    def __init__(self, idempotency_key: _Optional[str] = ..., event_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., quantity: _Optional[int] = ..., email: _Optional[str] = ..., phone_number: _Optional[str] = ...) -> None: ...

class PlaceOrderResponse(_message.Message):
    __slots__ = ("order", "created")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    order: Order
    created: bool
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class PlaceOrdersRequest(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[PlaceOrdersItem]
    def __init__(self, orders: _Optional[_Iterable[_Union[PlaceOrdersItem, _Mapping]]] = ...) -> None: ...

class PlaceOrdersItem(_message.Message):
    __slots__ = ("order", "request_id")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    order: PlaceOrderRequest
    request_id: str
    def __init__(self, order: _Optional[_Union[PlaceOrderRequest, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class PlaceOrdersResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[PlaceOrderOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[PlaceOrderOutcome, _Mapping]]] = ...) -> None: ...

class PlaceOrderOutcome(_message.Message):
    __slots__ = ("placed", "refusal")
    PLACED_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    placed: PlaceOrderResponse
    refusal: Refusal
    def __init__(self, placed: _Optional[_Union[PlaceOrderResponse, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("code", "reason", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    reason: str
    message: str
    def __init__(self, code: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id", "order_token")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    order_token: str
    def __init__(self, order_id: _Optional[str] = ..., order_token: _Optional[str] = ...) -> None: ...

class ConfirmPaymentRequest(_message.Message):
    __slots__ = ("payment_ref",)
    PAYMENT_REF_FIELD_NUMBER: _ClassVar[int]
    payment_ref: str
    def __init__(self, payment_ref: _Optional[str] = ...) -> None: ...

class VerifyPaymentRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class RefundOrderRequest(_message.Message):
    __slots__ = ("order_id", "reason")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    reason: str
    def __init__(self, order_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
