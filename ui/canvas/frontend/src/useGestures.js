// The optimistic queue: each gesture is drawn in its own frame and waits its turn to be sent. Only when Python
// answers each event (the payload carries `acked`) does the queue hold them; otherwise (the Train page's read-only
// canvas) every event is sent at once, as before.
//
// One event is in flight at a time: the next is sent once Python's answer to it has arrived (a gesture on a card
// that is still pending names its temporary id, which Python's `id_map` has replaced by then). An event unanswered
// for RESEND_MS is sent again; Python applies a (client, seq) once.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { applyAll, paletteLooks, pictureOf, reconcile, tempId } from "./pending.js";

const RESEND_MS = 4000;
const DEFAULT_DROP_OFFSET = [85, 40]; // flow px from a card's top-left corner to a palette drop's point

// Temporary ids for the cards a gesture makes (never a Python id: they hold "~").
function withTemps(event) {
  if (event.kind === "add" || event.kind === "group") return { ...event, temp: tempId(event.seq) };
  if (event.kind !== "paste") return event;
  const temps = Object.fromEntries((event.nodes || []).map((id, k) => [id, tempId(event.seq, k)]));
  return { ...event, temps };
}

// The queue's answers from each new payload, during the render that brings it (no frame shows the stale picture).
function useAnswers(data, queue, setVersion, setNotice) {
  const seen = useRef(null);
  if (seen.current === data) return;
  seen.current = data;
  const result = reconcile(queue.current, data);
  if (result.changed) {
    queue.current = result.queue;
    setVersion((v) => v + 1);
  }
  if (result.notices.length) setNotice(result.notices[result.notices.length - 1]);
}

// Sends the queue's first event when it is not in flight yet, and again after RESEND_MS without an answer.
function useTransmit(queue, version, send, setVersion) {
  useEffect(() => {
    const head = queue.current[0];
    if (!head) return undefined;
    if (!head.sentAt) {
      head.sentAt = performance.now();
      send.transmit(head.event);
    }
    const timer = setTimeout(() => {
      if (queue.current[0] !== head) return;
      head.sentAt = 0;
      setVersion((v) => v + 1);
    }, RESEND_MS);
    return () => clearTimeout(timer);
  }, [queue, version, send, setVersion]);
}

// {send, pictureKey, picture(), notice, setNotice, waiting}: `picture()` is the payload with the pending gestures
// applied; `pictureKey` changes whenever that may differ from what was drawn (a new rev, a gesture, an answer).
export function useGestures(data, send) {
  const answered = Array.isArray(data.acked) && typeof send.next === "function";
  const queue = useRef([]); // {event, sentAt}: sent (sentAt > 0) or waiting, oldest first
  const [version, setVersion] = useState(0);
  const [notice, setNotice] = useState(null);
  useAnswers(data, queue, setVersion, setNotice);
  useTransmit(queue, version, send, setVersion);

  const sendGesture = useCallback(
    (kind, fields = {}) => {
      if (!answered) return send(kind, fields);
      const event = withTemps(send.next(kind, fields));
      queue.current = [...queue.current, { event, sentAt: 0 }];
      if (kind !== "select" && kind !== "refresh") setNotice(null);
      setVersion((v) => v + 1);
      return event;
    },
    [send, answered],
  );
  const paletteText = JSON.stringify(data.palette || []);
  const looks = useMemo(() => paletteLooks(JSON.parse(paletteText)), [paletteText]);
  const dropOffset = data.drop_offset || DEFAULT_DROP_OFFSET;
  const picture = useCallback(
    () => applyAll(pictureOf(data), queue.current.map((entry) => entry.event), { looks, dropOffset }),
    [data, looks, dropOffset],
  );
  return {
    send: sendGesture,
    pictureKey: `${data.rev}/${version}`,
    picture,
    notice,
    setNotice,
    waiting: queue.current.length,
  };
}
