// A charge point built on ocpp-rpc (npm), a different OCPP implementation than the gateway's, for
// tests/gateway/test_node_station.py. strictMode validates every message both ways against the
// official OCPP JSON schemas of the negotiated version.
//
// Usage: node node_station.js URL IDENTITY VERSION PASSWORD CA_FILE PLUG_IN SAMPLE_AT
// It boots, reports its status, authorises, starts a transaction and sends one meter value of
// 7 000 W / 12 345 Wh at SAMPLE_AT, then prints one JSON line per event on stdout:
//   {"event":"started","transactionId":...}, {"event":"set","params":...}, {"event":"clear","params":...},
//   {"event":"reconnected"}, {"event":"stopped"}
// and obeys commands on stdin, one per line: "reconnect", "stop STOP_AT".
'use strict';

const fs = require('fs');
const readline = require('readline');
const { RPCClient } = require('ocpp-rpc');

const [url, identity, version, password, caFile, plugIn, sampleAt] = process.argv.slice(2);
const protocol = version === '2.0.1' ? 'ocpp2.0.1' : 'ocpp1.6';
const v201 = version === '2.0.1';

function emit(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

function client() {
    const cli = new RPCClient({
        endpoint: url,
        identity,
        password,
        protocols: [protocol],
        strictMode: true,
        reconnect: false,
        wsOpts: { ca: fs.readFileSync(caFile) },
    });
    cli.on('strictValidationFailure', (failure) => emit({ event: 'invalid', error: String(failure.error) }));
    cli.handle('SetChargingProfile', ({ params }) => {
        emit({ event: 'set', params });
        return { status: 'Accepted' };
    });
    cli.handle('ClearChargingProfile', ({ params }) => {
        emit({ event: 'clear', params });
        return { status: 'Accepted' };
    });
    return cli;
}

function meterValue(at) {
    if (v201) {
        return {
            timestamp: at,
            sampledValue: [
                { value: 7000, measurand: 'Power.Active.Import', unitOfMeasure: { unit: 'W' } },
                { value: 12.345, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'kWh' } },
            ],
        };
    }
    return {
        timestamp: at,
        sampledValue: [
            { value: '7', measurand: 'Power.Active.Import', unit: 'kW' },
            { value: '12345', measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
        ],
    };
}

async function start(cli) {
    if (v201) {
        await cli.call('BootNotification', {
            reason: 'PowerUp',
            chargingStation: { model: 'rpc-station', vendorName: 'ocpp-rpc' },
        });
        await cli.call('StatusNotification', {
            timestamp: plugIn, connectorStatus: 'Occupied', evseId: 1, connectorId: 1,
        });
        const auth = await cli.call('Authorize', { idToken: { idToken: 'NODE-TAG', type: 'ISO14443' } });
        if (auth.idTokenInfo.status !== 'Accepted') throw new Error('not authorised');
        const transactionId = 'node-tx-1';
        await cli.call('TransactionEvent', {
            eventType: 'Started', timestamp: plugIn, triggerReason: 'Authorized', seqNo: 0,
            transactionInfo: { transactionId, chargingState: 'Charging' },
            idToken: { idToken: 'NODE-TAG', type: 'ISO14443' }, evse: { id: 1, connectorId: 1 },
        });
        await cli.call('MeterValues', { evseId: 1, meterValue: [meterValue(sampleAt)] });
        return transactionId;
    }
    await cli.call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'rpc-station' });
    await cli.call('StatusNotification', {
        connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: plugIn,
    });
    const auth = await cli.call('Authorize', { idTag: 'NODE-TAG' });
    if (auth.idTagInfo.status !== 'Accepted') throw new Error('not authorised');
    const started = await cli.call('StartTransaction', {
        connectorId: 1, idTag: 'NODE-TAG', meterStart: 12000, timestamp: plugIn,
    });
    await cli.call('MeterValues', {
        connectorId: 1, transactionId: started.transactionId, meterValue: [meterValue(sampleAt)],
    });
    return started.transactionId;
}

async function stop(cli, transactionId, at) {
    if (v201) {
        await cli.call('TransactionEvent', {
            eventType: 'Ended', timestamp: at, triggerReason: 'EVDeparted', seqNo: 1,
            transactionInfo: { transactionId },
        });
    } else {
        await cli.call('StopTransaction', { meterStop: 12400, timestamp: at, transactionId });
    }
}

async function main() {
    let cli = client();
    await cli.connect();
    const transactionId = await start(cli);
    emit({ event: 'started', transactionId });
    const lines = readline.createInterface({ input: process.stdin });
    for await (const line of lines) {
        const [command, argument] = line.trim().split(' ');
        if (command === 'reconnect') {
            await cli.close({ awaitPending: true });
            cli = client();
            await cli.connect();
            await cli.call('Heartbeat', {});
            emit({ event: 'reconnected' });
        } else if (command === 'stop') {
            await stop(cli, transactionId, argument);
            emit({ event: 'stopped' });
            await cli.close({ awaitPending: true });
            process.exit(0); // stdin stays open: leave without waiting for it
        }
    }
}

main().catch((error) => {
    emit({ event: 'failed', error: String(error && error.stack ? error.stack : error) });
    process.exit(1);
});
