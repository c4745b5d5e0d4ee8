-- xns.lua: a Wireshark dissector for what `xnsctl capture` writes: pcapng
-- with link type USER0 (147), one xns event record per packet (the record
-- layout: xnsctl/capture.c, xnsctl(1)).
--
--   tshark -X lua_script:contrib/wireshark/xns.lua -r capture.pcapng
--   wireshark -X lua_script:contrib/wireshark/xns.lua capture.pcapng
--
-- or copy it to ~/.local/lib/wireshark/plugins/.

local xns = Proto("xns", "xns routed message")

local kinds = { [0] = "MutableBorrow", [1] = "Borrow", [2] = "Move", [3] = "Scalar", [4] = "BlockingScalar" }

-- Xous's error numbers (proto/xous-codes.h); 0 is no error.
local errors = {
        [0] = "ok", "BAD_ALIGNMENT", "BAD_ADDRESS", "OUT_OF_MEMORY", "MEMORY_IN_USE", "INTERRUPT_NOT_FOUND",
        "INTERRUPT_IN_USE", "INVALID_STRING", "SERVER_EXISTS", "SERVER_NOT_FOUND", "PROCESS_NOT_FOUND",
        "PROCESS_NOT_CHILD", "PROCESS_TERMINATED", "TIMEOUT", "INTERNAL_ERROR", "SERVER_QUEUE_FULL",
        "THREAD_NOT_AVAILABLE", "UNHANDLED_SYSCALL", "INVALID_SYSCALL", "SHARE_VIOLATION", "INVALID_THREAD",
        "INVALID_PID", "UNKNOWN_ERROR", "ACCESS_DENIED", "USE_BEFORE_INIT", "DOUBLE_FREE", "DEBUG_IN_PROGRESS",
        "INVALID_LIMIT", "NOT_FOUND", "INVALID_CODING", "HARDWARE_ERROR", "SERIALIZATION_ERROR",
        "INVALID_ARGUMENT", "NETWORK_ERROR", "STORAGE_ERROR", "UNAVAILABLE", "PARSE_ERROR", "INVALID_CORE",
        "VERIFICATION_ERROR", "SECURITY_ERROR",
}

local f = {
        version = ProtoField.uint16("xns.version", "Record version"),
        time_us = ProtoField.uint64("xns.time_us", "Time (us since the epoch)"),
        pid = ProtoField.uint32("xns.pid", "Caller pid"),
        host = ProtoField.string("xns.host", "Caller host"),
        server = ProtoField.string("xns.server", "Server"),
        sid = ProtoField.string("xns.sid", "Server SID"),
        kind = ProtoField.string("xns.kind", "Kind"),
        kind_code = ProtoField.uint32("xns.kind_code", "Kind number"),
        id = ProtoField.uint32("xns.id", "Opcode"),
        args = ProtoField.uint32("xns.args", "Argument"),
        len = ProtoField.uint32("xns.len", "Buffer size"),
        error = ProtoField.string("xns.error", "Result"),
        error_code = ProtoField.uint32("xns.error_code", "Xous error number"),
        reply_count = ProtoField.uint32("xns.reply_count", "Reply words"),
        reply = ProtoField.uint32("xns.reply", "Reply word"),
        latency_us = ProtoField.uint32("xns.latency_us", "Latency (us)"),
        dropped = ProtoField.uint32("xns.dropped", "Events lost before this one"),
        payload_len = ProtoField.uint32("xns.payload_len", "Payload bytes captured"),
        payload = ProtoField.bytes("xns.payload", "Payload"),
}
xns.fields = f

local HEADER_MIN = 108

function xns.dissector(tvb, pinfo, tree)
        if tvb:len() < HEADER_MIN or tvb(0, 4):string() ~= "xnsc" then
                return 0
        end
        local hdr_len = tvb(6, 2):le_uint()
        local host_len = tvb(100, 2):le_uint()
        local server_len = tvb(102, 2):le_uint()
        local payload_len = tvb(104, 4):le_uint()
        if hdr_len < HEADER_MIN or tvb:len() < hdr_len + host_len + server_len + payload_len then
                return 0
        end
        pinfo.cols.protocol = "XNS"
        local t = tree:add(xns, tvb(), "xns routed message")
        t:add_le(f.version, tvb(4, 2))
        t:add_le(f.time_us, tvb(8, 8))
        local pid = tvb(16, 4):le_uint()
        t:add_le(f.pid, tvb(16, 4))
        local host = tvb(hdr_len, host_len):string()
        t:add(f.host, tvb(hdr_len, host_len), host)
        local sid = string.format("%08x%08x%08x%08x", tvb(84, 4):le_uint(), tvb(88, 4):le_uint(),
                                  tvb(92, 4):le_uint(), tvb(96, 4):le_uint())
        local server = server_len > 0 and tvb(hdr_len + host_len, server_len):string() or sid
        t:add(f.server, server_len > 0 and tvb(hdr_len + host_len, server_len) or tvb(84, 16), server)
        t:add(f.sid, tvb(84, 16), sid)
        local kind_code = tvb(20, 4):le_uint()
        local kind = kinds[kind_code] or string.format("kind %u", kind_code)
        t:add(f.kind, tvb(20, 4), kind)
        t:add_le(f.kind_code, tvb(20, 4))
        local id = tvb(24, 4):le_uint()
        t:add_le(f.id, tvb(24, 4))
        for i = 0, 3 do
                t:add_le(f.args, tvb(28 + 4 * i, 4))
        end
        t:add_le(f.len, tvb(44, 4))
        local error_code = tvb(48, 4):le_uint()
        t:add(f.error, tvb(48, 4), errors[error_code] or string.format("error %u", error_code))
        t:add_le(f.error_code, tvb(48, 4))
        local count = tvb(52, 4):le_uint()
        t:add_le(f.reply_count, tvb(52, 4))
        for i = 0, math.min(count, 5) - 1 do
                t:add_le(f.reply, tvb(56 + 4 * i, 4))
        end
        t:add_le(f.latency_us, tvb(76, 4))
        t:add_le(f.dropped, tvb(80, 4))
        t:add_le(f.payload_len, tvb(104, 4))
        if payload_len > 0 then
                t:add(f.payload, tvb(hdr_len + host_len + server_len, payload_len))
        end
        local caller = host_len > 0 and (host .. ":" .. pid) or tostring(pid)
        pinfo.cols.info = string.format("pid %s -> %s %s #%u", caller, server, kind, id)
        if error_code ~= 0 then
                pinfo.cols.info:append(" " .. (errors[error_code] or tostring(error_code)))
        end
        return tvb:len()
end

local encaps = wtap_encaps or wtap
DissectorTable.get("wtap_encap"):add(encaps.USER0, xns)
