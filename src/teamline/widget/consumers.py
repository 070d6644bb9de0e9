from channels.generic.websocket import AsyncJsonWebsocketConsumer


class WidgetConsumer(AsyncJsonWebsocketConsumer):
    pass
