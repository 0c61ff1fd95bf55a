// An aggregator's client in Go, with stubs generated from the partner kit alone by protoc-gen-go
// and protoc-gen-go-grpc (examples/partners/go/build.sh): register chargers, upload telemetry,
// read notifications and resume them from a cursor, bid, and decode the error details of
// refused calls. tests/partners runs it against a live platform over mutual TLS;
// docs/PARTNERS.md quotes it.
//
// Environment: VGI_TARGET (host:port), VGI_CA, VGI_CERT, VGI_KEY (PEM files), VGI_TOKEN
// (bearer token), VGI_AGGREGATOR (id), VGI_EVENT (`events/{event}`), VGI_GRID_NODE
// (`gridNodes/{node}`), VGI_SLOT_START (RFC 3339 start of the event's first slot).
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	money "vgikit/google/type/money"
	aggregatorv1 "vgikit/vgi/aggregator/v1"
	commonv1 "vgikit/vgi/common/v1"
)

func env(name string) string {
	value := os.Getenv(name)
	if value == "" {
		fail(fmt.Errorf("%s is not set", name))
	}
	return value
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "go scenario failed: %v\n", err)
	os.Exit(1)
}

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fail(fmt.Errorf(format, args...))
	}
}

func requestID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		fail(err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // UUID version 4, RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// --- channel ---
// bearer sends the token on every call (RequireTransportSecurity: only over TLS).
type bearer string

func (t bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

func dial(target, caFile, certFile, keyFile, token string) (*grpc.ClientConn, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots})
	return grpc.Dial(target, grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(bearer(token)))
}

// --- end channel ---

// --- error details ---
// errorDetails unpacks google.rpc.Status details (grpc-status-details-bin) of a failed call.
func errorDetails(err error) (info *errdetails.ErrorInfo, bad *errdetails.BadRequest, retry *errdetails.RetryInfo) {
	return details(status.Convert(err))
}

// details unpacks a status's ErrorInfo, BadRequest and RetryInfo; status.FromProto(ack.GetError())
// turns a rejected telemetry batch's google.rpc.Status into one.
func details(st *status.Status) (info *errdetails.ErrorInfo, bad *errdetails.BadRequest, retry *errdetails.RetryInfo) {
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		case *errdetails.RetryInfo:
			retry = d
		}
	}
	return info, bad, retry
}

// --- end error details ---

// readNotifications reads count items from a stream opened after cursor, then cancels it.
func readNotifications(client aggregatorv1.AggregatorServiceClient, cursor int64, count int) []*commonv1.Notification {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := client.StreamNotifications(ctx, &aggregatorv1.StreamNotificationsRequest{AfterSequence: cursor})
	check(err == nil, "StreamNotifications: %v", err)
	var items []*commonv1.Notification
	for len(items) < count {
		response, err := stream.Recv()
		check(err == nil, "StreamNotifications after %d items: %v", len(items), err)
		items = append(items, response.GetNotification())
	}
	return items
}

func main() {
	conn, err := dial(env("VGI_TARGET"), env("VGI_CA"), env("VGI_CERT"), env("VGI_KEY"), env("VGI_TOKEN"))
	check(err == nil, "dial: %v", err)
	defer conn.Close()
	client := aggregatorv1.NewAggregatorServiceClient(conn)
	me, event := env("VGI_AGGREGATOR"), env("VGI_EVENT")
	steps := 0
	step := func(name, detail string) {
		steps++
		fmt.Printf("go step %d: %s — %s\n", steps, name, detail)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	_, err = client.BatchUpsertStations(ctx, &aggregatorv1.BatchUpsertStationsRequest{
		RequestId: requestID(),
		Stations:  []*commonv1.Station{{StationId: "st-go", GridNode: env("VGI_GRID_NODE"), ImportLimitW: 120000}},
	})
	check(err == nil, "BatchUpsertStations: %v", err)
	step("BatchUpsertStations", "station st-go")

	chargerIDs := []string{"go-ch-1", "go-ch-2"}
	var chargers []*commonv1.Charger
	for _, id := range chargerIDs {
		chargers = append(chargers, &commonv1.Charger{
			ChargerId: id, StationId: "st-go", Kind: commonv1.ChargerKind_CHARGER_KIND_AC, RatedChargeW: 7000,
		})
	}
	_, err = client.BatchUpsertChargers(ctx, &aggregatorv1.BatchUpsertChargersRequest{RequestId: requestID(), Chargers: chargers})
	check(err == nil, "BatchUpsertChargers: %v", err)
	listed, err := client.ListChargers(ctx, &aggregatorv1.ListChargersRequest{PageSize: 10, StationId: "st-go"})
	check(err == nil && len(listed.GetChargers()) == 2, "ListChargers: %v %v", err, listed)
	step("BatchUpsertChargers", listed.GetChargers()[0].GetName()+", "+listed.GetChargers()[1].GetName())

	// --- telemetry ---
	upload, err := client.UploadTelemetry(ctx)
	check(err == nil, "UploadTelemetry: %v", err)
	batch := func(ids []string) *aggregatorv1.UploadTelemetryRequest {
		b := &aggregatorv1.TelemetryBatch{BatchId: requestID()}
		for _, id := range ids {
			b.MeterValues = append(b.MeterValues, &commonv1.MeterValue{
				// power_w and the registers have field presence (proto3 optional): pointers in Go.
				ChargerId: id, SampleTime: timestamppb.New(time.Now().Add(-time.Minute)), PowerW: proto.Int64(3500),
				EnergyRegisterWh: proto.Int64(1000), Status: commonv1.ChargerStatus_CHARGER_STATUS_CHARGING,
			})
		}
		return &aggregatorv1.UploadTelemetryRequest{Batch: b}
	}
	check(upload.Send(batch(chargerIDs)) == nil, "send batch")
	check(upload.Send(batch([]string{"not-my-charger"})) == nil, "send batch") // rejected alone; the stream goes on
	check(upload.CloseSend() == nil, "close send")
	var acks []*aggregatorv1.UploadTelemetryResponse
	for {
		ack, err := upload.Recv()
		if err == io.EOF {
			break
		}
		check(err == nil, "UploadTelemetry ack: %v", err)
		acks = append(acks, ack)
	}
	// acks[i].GetResult(): ACCEPTED, DUPLICATE or REJECTED (then acks[i].GetError() is a google.rpc.Status)
	// --- end telemetry ---
	check(len(acks) == 2 && acks[0].GetStoredPoints() == 2, "acks %v", acks)
	check(acks[0].GetResult() == aggregatorv1.TelemetryBatchResult_TELEMETRY_BATCH_RESULT_ACCEPTED, "batch 1 %v", acks[0])
	check(acks[1].GetResult() == aggregatorv1.TelemetryBatchResult_TELEMETRY_BATCH_RESULT_REJECTED, "batch 2 %v", acks[1])
	rejected, _, _ := details(status.FromProto(acks[1].GetError()))
	step("UploadTelemetry", fmt.Sprintf("batch 1 %v (%d points), batch 2 %v %s",
		acks[0].GetResult(), acks[0].GetStoredPoints(), acks[1].GetResult(), rejected.GetReason()))

	// --- notifications ---
	items := readNotifications(client, 0, 2)
	first, second := items[0], items[1]
	_, err = client.AckNotifications(ctx, &aggregatorv1.AckNotificationsRequest{RequestId: requestID(), UpToSequence: first.GetSequence()})
	check(err == nil, "AckNotifications: %v", err)
	resumed := readNotifications(client, first.GetSequence(), 1)[0]
	// --- end notifications ---
	check(resumed.GetNotificationId() == second.GetNotificationId(), "the resumed stream did not start after the cursor")
	step("StreamNotifications", fmt.Sprintf("got #%d (invitation %s) and #%d, acked #%d",
		first.GetSequence(), first.GetInvitation().GetName(), second.GetSequence(), first.GetSequence()))
	step("StreamNotifications resumed", fmt.Sprintf("after #%d the first item is #%d", first.GetSequence(), resumed.GetSequence()))

	slotStart, err := time.Parse(time.RFC3339, env("VGI_SLOT_START"))
	check(err == nil, "VGI_SLOT_START: %v", err)
	bid, err := client.SubmitBid(ctx, &aggregatorv1.SubmitBidRequest{
		RequestId: requestID(),
		Parent:    event,
		Bid: &commonv1.Bid{Slots: []*commonv1.BidSlot{{
			SlotStartTime: timestamppb.New(slotStart), CapacityW: 30000,
			Price: &money.Money{CurrencyCode: "CNY", Units: 0, Nanos: 450000000},
		}}},
	})
	check(err == nil, "SubmitBid: %v", err)
	check(bid.GetBid().GetState() == commonv1.BidState_BID_STATE_SUBMITTED, "bid state %v", bid.GetBid().GetState())
	step("SubmitBid", bid.GetBid().GetName()+" "+bid.GetBid().GetState().String())

	// --- bad request ---
	_, err = client.SubmitBid(ctx, &aggregatorv1.SubmitBidRequest{RequestId: "not-a-uuid", Parent: event, Bid: &commonv1.Bid{}})
	info, bad, _ := errorDetails(err)
	// info.GetReason(), bad.GetFieldViolations()[i].GetField()
	// --- end bad request ---
	check(status.Code(err) == codes.InvalidArgument && info != nil && bad != nil, "SubmitBid refused with %v", err)
	fields := ""
	for _, violation := range bad.GetFieldViolations() {
		fields += " " + violation.GetField()
	}
	check(fields != "" && bad.GetFieldViolations()[0].GetField() != "", "no field violations")
	step("ErrorInfo + BadRequest", fmt.Sprintf("InvalidArgument %s (%s), fields%s", info.GetReason(), info.GetDomain(), fields))

	var limited error
	for i := 0; i < 50 && limited == nil; i++ {
		_, limited = client.GetBid(ctx, &aggregatorv1.GetBidRequest{Name: event + "/bids/" + me})
	}
	check(status.Code(limited) == codes.ResourceExhausted, "no ResourceExhausted: %v", limited)
	info, _, retry := errorDetails(limited)
	check(retry != nil && retry.GetRetryDelay().AsDuration() > 0, "RetryInfo without a delay")
	step("RetryInfo", fmt.Sprintf("ResourceExhausted %s, retry after %s", info.GetReason(), retry.GetRetryDelay().AsDuration()))

	fmt.Printf("go scenario: %d steps passed\n", steps)
}
