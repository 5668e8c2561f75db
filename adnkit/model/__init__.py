"""DifferNet: the AlexNet backbone with attention slots, the FrEIA flow, views and the path from images to scores."""
