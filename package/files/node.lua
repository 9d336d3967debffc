-- One content process per content item. The content process ("content", the
-- thin portal client) forwards its fds to the renderer that lives inside
-- overlay.squashfs, where the service keeps a spawner running:
--   fd 3  the buffer to render into (a dmabuf)
--   fd 0  commands from here ("fill R G B", "frame N", "quit")
--   fd 1  status lines back ("ready WxH pid P", "frame N done")
--   fd 2  debug output
-- The content-process calls follow the interface described for info-beamer
-- on the Pi 5 (resource.create_content_process); they are not verified here.
gl.setup(NATIVE_WIDTH, NATIVE_HEIGHT)

local WIDTH, HEIGHT = 64, 16
local items = {}
local current, proc, frame, frames

util.json_watch("config.json", function(config)
    items = config.items or {}
end)

local function start_item(index)
    local item = items[index]
    if not item then return end
    current, frame, frames = index, 0, item.frames or 120
    proc = resource.create_content_process{
        file = "content",
        width = WIDTH,
        height = HEIGHT,
    }
    local bg = item.background or {0, 0, 0.5, 1}
    proc:write(string.format("fill %d %d %d\n", bg[1] * 255, bg[2] * 255, bg[3] * 255))
end

local function next_item()
    if proc then
        proc:write("quit\n")
        proc:dispose()
        proc = nil
    end
    if #items == 0 then return end
    start_item((current or 0) % #items + 1)
end

function node.render()
    gl.clear(0, 0, 0, 1)
    if not proc then next_item() end
    if not proc then return end
    for line in proc:lines() do
        print("renderer: " .. line)
    end
    frame = frame + 1
    proc:write(string.format("frame %d\n", frame))
    proc:draw(0, 0, WIDTH, HEIGHT)
    if frame >= frames then next_item() end
end
