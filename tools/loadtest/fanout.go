package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-faster/jx"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// fanout: one run, many SSE subscribers; a worker appends events carrying their send
// time; each subscriber records now - sent for every event it receives.
func fanout(ctx context.Context, o options, srv *server, tc, wc *orchestratorapi.Client, backend string, hc *http.Client) error {
	res, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: "fanout"}, orchestratorapi.CreateRunParams{AgentID: "load"})
	if err != nil {
		return err
	}
	runID := string(res.Response.RunID)
	var rec recorder
	var ready, finished sync.WaitGroup
	var delivered atomic.Int64
	streamClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.subscribers + 10, MaxConnsPerHost: 0}}
	for range o.subscribers {
		ready.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			req, _ := http.NewRequest(http.MethodGet, srv.base+"/v1/runs/"+runID+"/events", nil)
			req.Header.Set("X-Tenant-Id", tenant)
			resp, err := streamClient.Do(req)
			if err != nil {
				rec.errs.Add(1)
				ready.Done()
				return
			}
			defer resp.Body.Close()
			ready.Done()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Text()
				data, ok := strings.CutPrefix(line, "data: ")
				if !ok {
					continue
				}
				// Cheap field extraction: the generator must not be the bottleneck.
				if i := strings.Index(data, `"sent":`); i >= 0 {
					rest := data[i+len(`"sent":`):]
					if j := strings.IndexAny(rest, ",}"); j > 0 {
						if sent, err := strconv.ParseInt(rest[:j], 10, 64); err == nil {
							rec.add(time.Since(time.Unix(0, sent)))
							delivered.Add(1)
						}
					}
				}
				if strings.Contains(data, `"type":"run.completed"`) {
					return
				}
			}
		}()
	}
	ready.Wait()
	time.Sleep(500 * time.Millisecond) // let every stream finish its replay
	lease, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: "fanout", WaitSeconds: orchestratorapi.NewOptInt32(5)})
	if err != nil || len(lease.Runs) != 1 {
		return fmt.Errorf("lease: %v", err)
	}
	lr := lease.Runs[0]
	start := time.Now()
	for range o.events {
		ev := orchestratorapi.WorkerEvent{Type: orchestratorapi.WorkerEventTypeModelDelta, Data: orchestratorapi.NewOptWorkerEventData(orchestratorapi.WorkerEventData{
			"sent": jx.Raw(strconv.FormatInt(time.Now().UnixNano(), 10)),
		})}
		if _, err := wc.AppendRunEvents(ctx, &orchestratorapi.AppendEventsInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken,
			Events: []orchestratorapi.WorkerEvent{ev}}, orchestratorapi.AppendRunEventsParams{RunID: lr.Run.RunID}); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := wc.CompleteRun(ctx, &orchestratorapi.CompleteInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken, Output: "ok"}, orchestratorapi.CompleteRunParams{RunID: lr.Run.RunID}); err != nil {
		return err
	}
	finished.Wait()
	want := int64(o.events * o.subscribers)
	fmt.Printf("scenario=fanout backend=%s subscribers=%d events=%d delivered=%d/%d errors=%d duration=%s delivery_p50=%s p99=%s peak_rss=%.0f MiB\n",
		backend, o.subscribers, o.events, delivered.Load(), want, rec.errs.Load(), time.Since(start).Round(time.Millisecond), ms(rec.pct(0.5)), ms(rec.pct(0.99)), srv.peakRSS())
	return nil
}
