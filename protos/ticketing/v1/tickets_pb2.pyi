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

class ConcertStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONCERT_STATUS_UNSPECIFIED: _ClassVar[ConcertStatus]
    CONCERT_STATUS_ACTIVE: _ClassVar[ConcertStatus]
    CONCERT_STATUS_INACTIVE: _ClassVar[ConcertStatus]
    CONCERT_STATUS_CANCELLED: _ClassVar[ConcertStatus]
CONCERT_STATUS_UNSPECIFIED: ConcertStatus
CONCERT_STATUS_ACTIVE: ConcertStatus
CONCERT_STATUS_INACTIVE: ConcertStatus
CONCERT_STATUS_CANCELLED: ConcertStatus

class Concert(_message.Message):
    __slots__ = ("id", "title", "description", "location", "date_time", "status", "created_by", "ticket_types", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    TICKET_TYPES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    description: str
    location: str
    date_time: _timestamp_pb2.Timestamp
    status: ConcertStatus
    created_by: str
    ticket_types: _containers.RepeatedCompositeFieldContainer[TicketType]
    version: int
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., location: _Optional[str] = ..., date_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[ConcertStatus, str]] = ..., created_by: _Optional[str] = ..., ticket_types: _Optional[_Iterable[_Union[TicketType, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...

class TicketType(_message.Message):
    __slots__ = ("id", "event_id", "category", "price", "total_stock", "sold", "held", "remaining", "sales_start", "sales_end", "on_sale", "concert_active", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STOCK_FIELD_NUMBER: _ClassVar[int]
    SOLD_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    SALES_START_FIELD_NUMBER: _ClassVar[int]
    SALES_END_FIELD_NUMBER: _ClassVar[int]
    ON_SALE_FIELD_NUMBER: _ClassVar[int]
    CONCERT_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_id: str
    category: str
    price: _common_pb2.Money
    total_stock: int
    sold: int
    held: int
    remaining: int
    sales_start: _timestamp_pb2.Timestamp
    sales_end: _timestamp_pb2.Timestamp
    on_sale: bool
    concert_active: bool
    version: int
    def __init__(self, id: _Optional[str] = ..., event_id: _Optional[str] = ..., category: _Optional[str] = ..., price: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., total_stock: _Optional[int] = ..., sold: _Optional[int] = ..., held: _Optional[int] = ..., remaining: _Optional[int] = ..., sales_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sales_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., on_sale: _Optional[bool] = ..., concert_active: _Optional[bool] = ..., version: _Optional[int] = ...) -> None: ...

class CreateConcertRequest(_message.Message):
    __slots__ = ("title", "description", "location", "date_time")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: str
    location: str
    date_time: _timestamp_pb2.Timestamp
    def __init__(self, title: _Optional[str] = ..., description: _Optional[str] = ..., location: _Optional[str] = ..., date_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpdateConcertRequest(_message.Message):
    __slots__ = ("concert_id", "title", "description", "location", "date_time")
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    title: str
    description: str
    location: str
    date_time: _timestamp_pb2.Timestamp
    def __init__(self, concert_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., location: _Optional[str] = ..., date_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChangeConcertStatusRequest(_message.Message):
    __slots__ = ("concert_id", "status")
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    status: ConcertStatus
    def __init__(self, concert_id: _Optional[str] = ..., status: _Optional[_Union[ConcertStatus, str]] = ...) -> None: ...

class DeleteConcertRequest(_message.Message):
    __slots__ = ("concert_id",)
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    def __init__(self, concert_id: _Optional[str] = ...) -> None: ...

class DeleteConcertResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetConcertRequest(_message.Message):
    __slots__ = ("concert_id",)
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    def __init__(self, concert_id: _Optional[str] = ...) -> None: ...

class AddTicketTypeRequest(_message.Message):
    __slots__ = ("concert_id", "category", "price", "total_stock", "sales_start", "sales_end")
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STOCK_FIELD_NUMBER: _ClassVar[int]
    SALES_START_FIELD_NUMBER: _ClassVar[int]
    SALES_END_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    category: str
    price: _common_pb2.Money
    total_stock: int
    sales_start: _timestamp_pb2.Timestamp
    sales_end: _timestamp_pb2.Timestamp
    def __init__(self, concert_id: _Optional[str] = ..., category: _Optional[str] = ..., price: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., total_stock: _Optional[int] = ..., sales_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sales_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpdateTicketTypeRequest(_message.Message):
    __slots__ = ("ticket_type_id", "price", "total_stock", "sales_start", "sales_end")
    TICKET_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STOCK_FIELD_NUMBER: _ClassVar[int]
    SALES_START_FIELD_NUMBER: _ClassVar[int]
    SALES_END_FIELD_NUMBER: _ClassVar[int]
    ticket_type_id: str
    price: _common_pb2.Money
    total_stock: int
    sales_start: _timestamp_pb2.Timestamp
    sales_end: _timestamp_pb2.Timestamp
    def __init__(self, ticket_type_id: _Optional[str] = ..., price: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., total_stock: _Optional[int] = ..., sales_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sales_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetTicketTypeRequest(_message.Message):
    __slots__ = ("ticket_type_id",)
    TICKET_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_type_id: str
    def __init__(self, ticket_type_id: _Optional[str] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("ticket_type_id", "order_id", "quantity", "expires_at")
    TICKET_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ticket_type_id: str
    order_id: str
    quantity: int
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_type_id: _Optional[str] = ..., order_id: _Optional[str] = ..., quantity: _Optional[int] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReserveBatchRequest(_message.Message):
    __slots__ = ("ticket_type_id", "holds")
    TICKET_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    ticket_type_id: str
    holds: _containers.RepeatedCompositeFieldContainer[ReserveItem]
    def __init__(self, ticket_type_id: _Optional[str] = ..., holds: _Optional[_Iterable[_Union[ReserveItem, _Mapping]]] = ...) -> None: ...

class ReserveItem(_message.Message):
    __slots__ = ("order_id", "quantity", "expires_at")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    quantity: int
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[str] = ..., quantity: _Optional[int] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReserveBatchResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[ReserveOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[ReserveOutcome, _Mapping]]] = ...) -> None: ...

class ReserveOutcome(_message.Message):
    __slots__ = ("order_id", "reason", "message", "expires_at")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    reason: str
    message: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HoldRequest(_message.Message):
    __slots__ = ("ticket_type_id", "order_id")
    TICKET_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_type_id: str
    order_id: str
    def __init__(self, ticket_type_id: _Optional[str] = ..., order_id: _Optional[str] = ...) -> None: ...
