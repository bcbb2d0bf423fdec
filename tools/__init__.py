"""Tools the model calls with tool tokens: calculator, clock, weather, search, memory, reminders."""
