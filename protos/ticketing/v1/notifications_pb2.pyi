import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Notification(_message.Message):
    __slots__ = ("id", "order_id", "channel", "status", "recipient", "sent_at", "attempts", "last_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    order_id: str
    channel: str
    status: str
    recipient: str
    sent_at: _timestamp_pb2.Timestamp
    attempts: int
    last_error: str
    def __init__(self, id: _Optional[str] = ..., order_id: _Optional[str] = ..., channel: _Optional[str] = ..., status: _Optional[str] = ..., recipient: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...

class ListOrderNotificationsRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class ListOrderNotificationsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Notification]
    def __init__(self, items: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ...) -> None: ...

class ResendNotificationRequest(_message.Message):
    __slots__ = ("order_id", "channel")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    channel: str
    def __init__(self, order_id: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...
