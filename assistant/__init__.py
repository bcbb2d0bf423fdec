"""A conversational assistant whose model calls tools by writing tool tokens."""

from assistant.chat import Assistant
from assistant.config import Config
from assistant.types import Call, FinalAnswer, Notice, TextDelta, ToolCall, ToolResult, Turn

__all__ = ["Assistant", "Call", "Config", "FinalAnswer", "Notice", "TextDelta", "ToolCall", "ToolResult", "Turn"]
